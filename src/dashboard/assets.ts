/**
 * The dashboard's scripts and stylesheets, served by the gateway itself: uPlot (the chart
 * library, pinned in package.json, vendored as strings by scripts/vendor-uplot.mjs) and the
 * dashboard's own script. No CDN: the pages' CSP allows scripts and styles only with the page's
 * nonce, which these tags carry. Constants only — nothing a user typed reaches them.
 */
import { UPLOT_CSS, UPLOT_JS } from "./vendor/uplot";

/**
 * Copy buttons (`data-copy` names the element whose text to copy), countdowns (`data-countdown-to`,
 * epoch ms), and the charts: each `.chart[data-series]` names a series in the page's
 * `#chart-data` JSON block (data, not script: the CSP does not apply to it, nothing runs it).
 */
const DASHBOARD_JS = `"use strict";
(() => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    });
  }

  const duration = (ms) => {
    const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d > 0 ? d + " d " + h + " h" : h > 0 ? h + " h " + m + " min" : m > 0 ? m + " min" : s + " s";
  };
  const tick = () => {
    for (const el of document.querySelectorAll("[data-countdown-to]")) {
      const left = Number(el.dataset.countdownTo) - Date.now();
      el.textContent = left > 0 ? "in " + duration(left) : duration(left) + " ago";
    }
  };
  tick();
  setInterval(tick, 15000);

  const dataBlock = document.getElementById("chart-data");
  if (dataBlock === null || typeof uPlot === "undefined") return;
  const data = JSON.parse(dataBlock.textContent);
  const COLORS = { requests: "#1849a9", rejected: "#b42318", denied: "#6941c6" };
  const NAMES = { requests: "Admitted", rejected: "Refused 429 (rate limit, quota)", denied: "Refused 401/403" };
  const charts = [];
  for (const el of document.querySelectorAll(".chart[data-series]")) {
    const series = data[el.dataset.series];
    if (series === undefined) continue;
    const xs = series.at.map((at) => Date.parse(at.length === 10 ? at + "T00:00:00Z" : at + ":00Z") / 1000);
    const kinds = ["requests", "rejected", "denied"];
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      series: [{ label: series.unit === "day" ? "Day (UTC)" : "Minute (UTC)" }].concat(
        kinds.map((kind) => ({ label: NAMES[kind], stroke: COLORS[kind], width: 2, fill: kind === "requests" ? "rgba(24,73,169,0.08)" : undefined, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } })),
      ),
      axes: [{ stroke: "#1d2330" }, { stroke: "#1d2330", size: 60 }],
      legend: { live: true },
    };
    const chart = new uPlot(opts, [xs].concat(kinds.map((kind) => series[kind])), el);
    el.dataset.drawn = "true";
    charts.push([chart, el]);
  }
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { for (const [chart, el] of charts) chart.setSize({ width: Math.max(200, el.clientWidth), height: 220 }); }, 100);
  });
})();
`;

export const ASSETS: Readonly<Record<string, { body: string; type: string }>> = {
  "uplot.js": { body: UPLOT_JS, type: "text/javascript; charset=utf-8" },
  "uplot.css": { body: UPLOT_CSS, type: "text/css; charset=utf-8" },
  "dashboard.js": { body: DASHBOARD_JS, type: "text/javascript; charset=utf-8" },
};
