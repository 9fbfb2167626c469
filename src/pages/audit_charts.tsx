/** @jsxImportSource hono/jsx */
/**
 * The audit page's pictures: calls over time by tool and by outcome and latency percentiles
 * over time (uPlot charts drawn by the console script from each element's `data-chart`; the
 * same numbers in a table under each, so nothing needs the script), the per-tool latency
 * table, and the busiest clients and members as bars (SVG drawn here: no script at all).
 * @module
 */
import type { AuditStats, Series } from "../core/audit_stats.ts";
import { Table } from "./layout.tsx";

const ms = (v: number | null) => (v === null ? "—" : v >= 1000 ? `≤ ${v / 1000} s` : `≤ ${v} ms`);

function bucketLabel(t: number, bucketMs: number): string {
  const iso = new Date(t).toISOString();
  return bucketMs >= 86_400_000 ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/** One time-series chart and its numbers. */
function TimeChart(
  p: { id: string; title: string; stats: AuditStats; series: Series[]; unit: string },
) {
  const spec = {
    unit: p.unit,
    x: p.stats.buckets.map((t) => Math.round(t / 1000)),
    series: p.series.map((s) => ({ label: s.label, values: s.values })),
  };
  const rows = p.stats.buckets
    .map((t, i) => ({ t, values: p.series.map((s) => s.values[i]) }))
    .filter((r) => r.values.some((v) => v !== null && v !== 0));
  return (
    <figure class="card" id={p.id}>
      <figcaption>
        <h2>{p.title}</h2>
      </figcaption>
      <div class="chart" data-chart={JSON.stringify(spec)} role="img" aria-label={p.title}>
      </div>
      <details>
        <summary>Numbers</summary>
        <Table
          head={["Time (UTC)", ...p.series.map((s) => ({ label: s.label, num: true }))]}
          rows={rows.length}
          empty="No call in this window."
        >
          {rows.map((r) => (
            <tr key={r.t}>
              <td class="nowrap">{bucketLabel(r.t, p.stats.bucketMs)}</td>
              {r.values.map((v, i) => (
                <td key={i} class="num nowrap">
                  {p.unit === "ms" ? ms(v) : String(v ?? 0)}
                </td>
              ))}
            </tr>
          ))}
        </Table>
      </details>
    </figure>
  );
}

/** Horizontal bars of `items`, drawn on the server. */
function Bars(p: { title: string; items: { label: string; calls: number }[]; empty: string }) {
  const max = Math.max(1, ...p.items.map((i) => i.calls));
  const rowH = 28;
  const labelW = 200;
  const width = 520;
  const barW = width - labelW - 70;
  const cut = (s: string) => (s.length > 24 ? `${s.slice(0, 23)}…` : s);
  return (
    <figure class="card bars">
      <figcaption>
        <h2>{p.title}</h2>
      </figcaption>
      {p.items.length === 0 ? <p class="muted">{p.empty}</p> : (
        <svg
          viewBox={`0 0 ${width} ${p.items.length * rowH}`}
          role="img"
          aria-label={`${p.title}: ${p.items.map((i) => `${i.label} ${i.calls}`).join(", ")}`}
        >
          {p.items.map((item, i) => {
            const w = Math.max(2, Math.round((item.calls / max) * barW));
            const y = i * rowH;
            return (
              <g key={i}>
                <title>{`${item.label}: ${item.calls} calls`}</title>
                <text x="0" y={y + 18}>{cut(item.label)}</text>
                <rect class="track" x={labelW} y={y + 5} width={barW} height="18" rx="3" />
                <rect class="bar" x={labelW} y={y + 5} width={w} height="18" rx="3" />
                <text x={labelW + w + 6} y={y + 18}>{String(item.calls)}</text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}

/** Everything above the audit table. */
export function AuditCharts(p: { stats: AuditStats }) {
  const s = p.stats;
  const window = `${bucketLabel(s.since, 60_000)} to ${bucketLabel(s.until, 60_000)} UTC`;
  return (
    <>
      <div class="card" id="audit-summary">
        <h2>In figures</h2>
        <p class="muted">
          {window}, one point per{" "}
          {s.bucketMs >= 3_600_000 ? `${s.bucketMs / 3_600_000} h` : `${s.bucketMs / 60_000} min`}.
        </p>
        <div class="stats">
          <div>
            <strong>{s.totals.calls.toLocaleString("en-US")}</strong>calls
          </div>
          <div>
            <strong>{s.totals.errors.toLocaleString("en-US")}</strong>not successful
          </div>
          <div>
            <strong>{ms(s.totals.p50)}</strong>median latency
          </div>
          <div>
            <strong>{ms(s.totals.p95)}</strong>95th percentile
          </div>
        </div>
      </div>
      <div class="charts">
        <TimeChart
          id="chart-tools"
          title="Calls over time by tool"
          stats={s}
          series={s.byTool}
          unit=""
        />
        <TimeChart
          id="chart-outcomes"
          title="Calls over time by outcome"
          stats={s}
          series={s.byOutcome}
          unit=""
        />
        <TimeChart
          id="chart-latency"
          title="Latency percentiles over time"
          stats={s}
          series={s.latency}
          unit="ms"
        />
        <figure class="card" id="latency-by-tool">
          <figcaption>
            <h2>Latency by tool</h2>
          </figcaption>
          <Table
            head={[
              "Tool",
              { label: "Calls", num: true },
              { label: "Not successful", num: true },
              { label: "p50", num: true },
              { label: "p95", num: true },
              { label: "p99", num: true },
            ]}
            rows={s.perTool.length}
            empty="No call in this window."
          >
            {s.perTool.map((t) => (
              <tr key={t.tool}>
                <td>{t.tool}</td>
                <td class="num">{t.calls}</td>
                <td class="num">{t.errors}</td>
                <td class="num nowrap">{ms(t.p50)}</td>
                <td class="num nowrap">{ms(t.p95)}</td>
                <td class="num nowrap">{ms(t.p99)}</td>
              </tr>
            ))}
          </Table>
        </figure>
        <Bars title="Busiest clients" items={s.clients} empty="No call in this window." />
        <Bars title="Busiest members" items={s.members} empty="No call in this window." />
      </div>
    </>
  );
}
