// Results page charts: time-vs-cost scatter (Pareto front highlighted) and memory bars.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("options-data").textContent);
  if (typeof Chart === "undefined") { return; }  // charts are an enhancement; the table stands alone
  const priced = data.filter((p) => p.usd !== null && p.hours !== null);
  const front = priced.filter((p) => p.pareto).sort((a, b) => a.hours - b.hours);
  const others = priced.filter((p) => !p.pareto);
  const point = (p) => ({ x: p.hours, y: p.usd, label: p.label });
  new Chart(document.getElementById("scatter"), {
    type: "scatter",
    data: {
      datasets: [
        { label: "Pareto front", data: front.map(point), showLine: true, borderColor: "#d9480f",
          backgroundColor: "#d9480f", pointRadius: 5 },
        { label: "other options", data: others.map(point), backgroundColor: "#748ffc", pointRadius: 3 },
      ],
    },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: {
        x: { type: "logarithmic", title: { display: true, text: "wall-clock hours" } },
        y: { type: "logarithmic", title: { display: true, text: "cost (USD)" } },
      },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.raw.label}: ${c.raw.x.toFixed(1)} h, $${Math.round(c.raw.y).toLocaleString()}` } } },
    },
  });
  const top = data.filter((p) => Object.keys(p.memory_gb).length).slice(0, 10);
  const parts = ["weights", "gradients", "optimizer_states", "activations", "kv_cache", "overhead"];
  const colors = ["#364fc7", "#1098ad", "#37b24d", "#f59f00", "#ae3ec9", "#868e96"];
  new Chart(document.getElementById("memory"), {
    type: "bar",
    data: {
      labels: top.map((p) => p.label),
      datasets: parts.map((name, i) => ({ label: name.replace("_", " "), data: top.map((p) => p.memory_gb[name] || 0),
        backgroundColor: colors[i], stack: "memory" })).concat([{
        label: "capacity", data: top.map((p) => p.capacity_gb), type: "line", showLine: false,
        pointStyle: "line", pointRadius: 12, borderColor: "#c92a2a", borderWidth: 3 }]),
    },
    options: {
      animation: false, indexAxis: "y", maintainAspectRatio: false,
      scales: { x: { stacked: true, title: { display: true, text: "GB per GPU" } }, y: { stacked: true } },
    },
  });
  document.body.dataset.chartsReady = "true";
})();
