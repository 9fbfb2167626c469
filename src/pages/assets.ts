/**
 * The console's static assets, served from the binary under `/static/`: the console script
 * (copy buttons, charts) and uPlot (src/pages/vendor/uplot.ts, the npm package's files as
 * string constants). Names carry a hash of the content, so they are cached for a year and a
 * new build is never served a stale copy. Pages load them with the response's CSP nonce.
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { UPLOT_CSS, UPLOT_JS } from "./vendor/uplot.ts";

/**
 * The console script: plain ES2020, no library. Copy buttons (hidden until this runs) copy
 * the text of the element they name; `[data-chart]` elements become uPlot charts of the
 * series in their JSON attribute (the same numbers are in a table next to them).
 */
const CONSOLE_JS = String.raw`(() => {
  "use strict";
  async function copyText(text) {
    try { await navigator.clipboard.writeText(text); return true; } catch (_) {}
    const area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.className = "skip";
    document.body.appendChild(area); area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (_) {}
    area.remove();
    return ok;
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const target = document.getElementById(button.dataset.copy);
    if (!target) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const ok = await copyText(target.textContent || "");
      button.textContent = ok ? "Copied" : "Select and copy";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }
  const PALETTE = ["#0b5cd5", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7a86", "#6e7781"];
  function drawChart(el) {
    if (typeof uPlot !== "function") return;
    let spec;
    try { spec = JSON.parse(el.dataset.chart); } catch (_) { return; }
    if (!spec.x || spec.x.length === 0) return;
    const fg = getComputedStyle(document.body).color;
    const grid = getComputedStyle(document.documentElement).getPropertyValue("--border").trim() || "#ccc";
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const unit = spec.unit || "";
    const opts = {
      width: Math.max(280, el.clientWidth),
      height: 220,
      scales: { x: { time: true } },
      axes: [axis, Object.assign({}, axis, { values: (u, vals) => vals.map((v) => v + (unit ? " " + unit : "")) , size: 60 })],
      series: [{}].concat(spec.series.map((s, i) => ({
        label: s.label,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        points: { show: spec.x.length < 40 },
      }))),
      legend: { live: true },
    };
    el.textContent = "";
    const chart = new uPlot(opts, [spec.x].concat(spec.series.map((s) => s.values)), el);
    new ResizeObserver(() => chart.setSize({ width: Math.max(280, el.clientWidth), height: 220 })).observe(el);
  }
  for (const el of document.querySelectorAll("[data-chart]")) drawChart(el);
})();
`;

/** A short, stable hash of an asset's content (FNV-1a, 32 bits), for its cache-busting name. */
function contentHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

interface Asset {
  name: string;
  type: string;
  body: string;
}

const ASSETS: Record<"console.js" | "uplot.js" | "uplot.css", Asset> = {
  "console.js": { name: "console", type: "text/javascript; charset=utf-8", body: CONSOLE_JS },
  "uplot.js": { name: "uplot", type: "text/javascript; charset=utf-8", body: UPLOT_JS },
  "uplot.css": { name: "uplot", type: "text/css; charset=utf-8", body: UPLOT_CSS },
};

const BY_PATH = new Map<string, Asset>();
const PATHS = {} as Record<keyof typeof ASSETS, string>;
for (const [key, a] of Object.entries(ASSETS) as [keyof typeof ASSETS, Asset][]) {
  const ext = key.slice(key.lastIndexOf("."));
  const path = `/static/${a.name}-${contentHash(a.body)}${ext}`;
  PATHS[key] = path;
  BY_PATH.set(path, a);
}

/** The URL path of an asset (with its content hash). */
export function assetPath(key: keyof typeof ASSETS): string {
  return PATHS[key];
}

/** `GET /static/<name>-<hash>.<ext>`: the assets, cached for a year. */
export function assetRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/static/:file", (c) => {
    const asset = BY_PATH.get(c.req.path);
    if (!asset) return c.text("Not found", 404);
    return c.body(asset.body, 200, {
      "Content-Type": asset.type,
      "Cache-Control": "public, max-age=31536000, immutable",
    });
  });
  return app;
}
