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

  // Form errors: focus the first invalid field (autofocus does it too; this covers bfcache).
  const firstInvalid = document.querySelector('#recommend-form [aria-invalid="true"]');
  if (firstInvalid && document.activeElement !== firstInvalid) { firstInvalid.focus(); }

  // Sortable tables: each header holds a button; its <th> carries aria-sort.
  document.querySelectorAll("table.sortable").forEach((table) => {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((th, column) => {
      const button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", () => {
        const body = table.tBodies[0];
        const numeric = th.dataset.type === "number";
        const descending = th.getAttribute("aria-sort") === "ascending";
        headers.forEach((h) => h.removeAttribute("aria-sort"));
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
        table.dispatchEvent(new Event("sorted"));
      });
    });
  });

  // Results: filter the ranking by vendor, "fits as-is" and a cost ceiling.
  const filters = document.getElementById("ranking-filters");
  const ranking = document.getElementById("ranking");
  if (filters && ranking) {
    filters.hidden = false;
    const vendor = document.getElementById("filter-vendor");
    const maxCost = document.getElementById("filter-max-cost");
    const fits = document.getElementById("filter-fits");
    const count = document.getElementById("filter-count");
    const showAll = document.getElementById("show-all");
    const TOP = 15;  // a phone shows the best options first; "Show all" reveals the rest
    let expanded = false;
    const apply = () => {
      const limit = parseFloat(maxCost.value.replace(/[,$_]/g, ""));
      let shown = 0, matched = 0;
      const rows = Array.from(ranking.tBodies[0].rows);
      rows.forEach((row) => {
        const usd = row.dataset.usd === "" ? NaN : parseFloat(row.dataset.usd);
        const matches = (!vendor.value || row.dataset.vendor === vendor.value)
          && (!fits.checked || row.dataset.verdict === "fits")
          && (Number.isNaN(limit) || (!Number.isNaN(usd) && usd <= limit));
        const visible = matches && (expanded || shown < TOP);
        row.hidden = !visible;
        if (matches) { matched += 1; }
        if (visible) { shown += 1; }
      });
      count.textContent = `Showing ${shown} of ${matched} matching options (${rows.length} fit in all).`;
      showAll.hidden = matched <= TOP;
      showAll.textContent = expanded ? `Show the best ${TOP} only` : `Show all ${matched} options`;
      showAll.setAttribute("aria-expanded", String(expanded));
    };
    showAll.addEventListener("click", () => { expanded = !expanded; apply(); });
    ranking.addEventListener("sorted", apply);
    [vendor, maxCost, fits].forEach((el) => el.addEventListener("input", apply));
    filters.addEventListener("submit", (e) => e.preventDefault());
    apply();
  }

  // Results: compare two or three ticked options side by side.
  const compare = document.getElementById("compare");
  if (compare && ranking) {
    compare.hidden = false;
    const table = document.getElementById("compare-table");
    const hint = document.getElementById("compare-hint");
    const picks = Array.from(ranking.querySelectorAll("input.compare-pick"));
    const render = () => {
      const chosen = picks.filter((p) => p.checked).map((p) => p.closest("tr"));
      picks.forEach((p) => { p.disabled = !p.checked && chosen.length >= 3; });
      table.tHead.replaceChildren();
      table.tBodies[0].replaceChildren();
      table.parentElement.hidden = chosen.length < 2;
      hint.textContent = chosen.length < 2
        ? "Tick two or three options in the Compare column."
        : `Comparing ${chosen.length} options (at most three).`;
      if (chosen.length < 2) { return; }
      const head = table.tHead.insertRow();
      const corner = document.createElement("th");
      corner.textContent = "";
      corner.setAttribute("scope", "col");
      head.appendChild(corner);
      chosen.forEach((row) => {
        const th = document.createElement("th");
        th.setAttribute("scope", "col");
        th.textContent = `${row.cells[2].textContent.trim()} x ${row.cells[1].textContent.trim()}`;
        head.appendChild(th);
      });
      const labels = Array.from(chosen[0].cells).map((c) => c.dataset.label)
        .filter((l) => l && l !== "Compare" && l !== "GPU");
      labels.forEach((label) => {
        const tr = table.tBodies[0].insertRow();
        const th = document.createElement("th");
        th.setAttribute("scope", "row");
        th.textContent = label;
        tr.appendChild(th);
        chosen.forEach((row) => {
          const cell = Array.from(row.cells).find((c) => c.dataset.label === label);
          tr.insertCell().textContent = cell ? cell.textContent.trim().replace(/\s+/g, " ") : "";
        });
      });
    };
    picks.forEach((p) => p.addEventListener("change", render));
    render();
  }
})();
