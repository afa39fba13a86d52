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

// Serving: per-GPU output tokens/s against per-user tokens/s (AIConfigurator's view), with the
// TPOT target as a vertical line (1 / TPOT tokens/s per user) and points missing the TTFT target
// drawn hollow.
(function () {
  const node = document.getElementById("serving-data");
  if (!node || typeof Chart === "undefined") { return; }
  const data = JSON.parse(node.textContent);
  const points = data.points.map((p) => ({ x: p.output_tokens_per_second_per_user,
    y: p.output_tokens_per_second_per_gpu, c: p.concurrency, ttft: p.ttft_p90_s, tpot: p.tpot_p99_s }));
  const meets = (p) => p.ttft <= data.ttft_p90_s && p.tpot <= data.tpot_p99_s;
  const ymax = Math.max(...points.map((p) => p.y)) * 1.1;
  const userTarget = 1 / data.tpot_p99_s;
  new Chart(document.getElementById("serving-curve"), {
    type: "scatter",
    data: {
      datasets: [
        { label: data.label, data: points, showLine: true, borderColor: "#364fc7",
          backgroundColor: points.map((p) => (meets(p) ? "#364fc7" : "#ffffff")),
          pointBorderColor: "#364fc7", pointRadius: 5 },
        { label: `TPOT target (${(data.tpot_p99_s * 1000).toFixed(0)} ms = ${userTarget.toFixed(1)} tokens/s per user)`,
          data: [{ x: userTarget, y: 0 }, { x: userTarget, y: ymax }], showLine: true,
          borderColor: "#c92a2a", borderDash: [6, 4], pointRadius: 0 },
      ],
    },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: {
        x: { type: "logarithmic", title: { display: true, text: "output tokens/s per user" } },
        y: { min: 0, title: { display: true, text: "output tokens/s per GPU" } },
      },
      plugins: { tooltip: { callbacks: { label: (c) => c.raw.c ? `${c.raw.c} users: ${c.raw.y.toFixed(0)} tok/s per GPU, ${c.raw.x.toFixed(1)} per user, TTFT p90 ${c.raw.ttft.toFixed(2)} s` : "" } } },
    },
  });
  document.body.dataset.servingChartReady = "true";
})();
