// Progressive enhancement: the pages work without it.
"use strict";
(function () {
  // Show only the inputs of the chosen model description.
  const radios = document.querySelectorAll('input[name="model_source"]');
  const sync = () => {
    const chosen = document.querySelector('input[name="model_source"]:checked');
    document.querySelectorAll(".source").forEach((el) => {
      el.hidden = chosen && el.dataset.source !== chosen.value;
    });
  };
  radios.forEach((r) => r.addEventListener("change", sync));
  sync();

  // Meter fills: widths set from data-fill here, since the CSP forbids inline style attributes.
  document.querySelectorAll("[data-fill]").forEach((el) => {
    el.style.width = `${parseFloat(el.dataset.fill) || 0}%`;
  });

  // Sortable tables: click a header to sort by it (numbers by data-value), again to reverse.
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("th").forEach((th, column) => {
      th.tabIndex = 0;
      const sort = () => {
        const body = table.tBodies[0];
        const numeric = th.dataset.type === "number";
        const descending = th.getAttribute("aria-sort") === "ascending";
        table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        const key = (row) => {
          const cell = row.cells[column];
          const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
          if (!numeric) { return raw.toLowerCase(); }
          const n = parseFloat(raw.replace(/,/g, ""));
          return Number.isNaN(n) ? Infinity : n;
        };
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const order = x < y ? -1 : x > y ? 1 : 0;
          return descending ? -order : order;
        });
        rows.forEach((r) => body.appendChild(r));
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") { sort(); } });
    });
  });
})();
