/**
 * `deno task bench [name...]`: runs every benchmark module in bench/ (a file exporting
 * `run(): Promise<BenchResult>`), or only the named ones, prints each one's figures and its
 * ratio against the baseline it measured in the same run, and writes bench/.out/<name>.json.
 * A new benchmark is a new file; nothing to register here.
 * @module
 */
import type { BenchResult } from "./result.ts";
import { BENCH_PG_ENV } from "./engine.ts";
import { findPgBin, startPgCluster } from "../tests/helpers/pg_cluster.ts";

type BenchModule = { run: () => Promise<BenchResult>; engines?: string[] };

/** Every bench module in this directory, by file name without `.ts`. */
async function discover(): Promise<Map<string, URL>> {
  const dir = new URL("./", import.meta.url);
  const found = new Map<string, URL>();
  const helpers = new Set([
    "run.ts",
    "load.ts",
    "raw_http.ts",
    "result.ts",
    "load_mixed_seed.ts",
    "engine.ts",
  ]);
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || helpers.has(entry.name)) continue;
    if (entry.name.endsWith("_worker.ts")) continue;
    found.set(entry.name.slice(0, -3), new URL(entry.name, dir));
  }
  return new Map([...found].sort(([a], [b]) => a.localeCompare(b)));
}

async function runOne(
  name: string,
  url: URL,
  pgAdminUrl: string | null = null,
): Promise<BenchResult> {
  const mod = await import(url.href) as Partial<BenchModule>;
  if (typeof mod.run !== "function") throw new Error(`bench/${name}.ts does not export run()`);
  if (pgAdminUrl) name = `${name}@postgres`;
  console.log(`\n== ${name}`);
  const started = performance.now();
  if (pgAdminUrl) Deno.env.set(BENCH_PG_ENV, pgAdminUrl);
  let result: BenchResult;
  try {
    result = await mod.run();
  } finally {
    Deno.env.delete(BENCH_PG_ENV);
  }
  if (pgAdminUrl) result = { ...result, name: `${result.name}@postgres` };
  const seconds = (performance.now() - started) / 1000;
  for (const line of result.lines) console.log(`  ${line}`);
  console.log(`  took ${seconds.toFixed(1)} s`);
  console.log(`  ratio: ${result.ratio.toFixed(3)}  (${result.ratioLabel})`);
  for (const f of result.failures ?? []) console.log(`  FAILED: ${f}`);
  const out = new URL("./.out/", import.meta.url);
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(
    new URL(`${name}.json`, out),
    JSON.stringify({ ...result, seconds, at: new Date().toISOString() }, null, 2) + "\n",
  );
  return result;
}

/**
 * The PostgreSQL server of the second pass: `BENCH_DATABASE_URL` (an admin URL, e.g.
 * `postgres://postgres@127.0.0.1:5432/postgres`), else a throwaway cluster of Debian's binaries;
 * a string says why there is none.
 */
async function postgresServer(): Promise<{ url: string; stop(): Promise<void> } | string> {
  const given = Deno.env.get("BENCH_DATABASE_URL");
  if (given) return { url: given, stop: () => Promise.resolve() };
  if (!findPgBin()) return "no PostgreSQL: install Debian's postgresql or set BENCH_DATABASE_URL";
  const cluster = await startPgCluster();
  return { url: cluster.url, stop: () => cluster.stop() };
}

if (import.meta.main) {
  const all = await discover();
  const wanted = Deno.args.length ? Deno.args : [...all.keys()];
  const unknown = wanted.filter((n) => !all.has(n));
  if (unknown.length) {
    console.error(
      `unknown benchmark ${unknown.join(", ")}; available: ${[...all.keys()].join(", ")}`,
    );
    Deno.exit(2);
  }
  console.log(
    `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, ${Deno.build.target}`,
  );
  const results: BenchResult[] = [];
  // A benchmark that throws is reported as failed; the others still run.
  const attempt = async (name: string, pgUrl?: string) => {
    try {
      results.push(await runOne(name, all.get(name)!, pgUrl ?? null));
    } catch (e) {
      const label = pgUrl ? `${name}@postgres` : name;
      console.log(`  FAILED: ${label} threw: ${(e as Error)?.stack ?? e}`);
      results.push({
        name: label,
        ratio: NaN,
        ratioLabel: "did not finish",
        lines: [],
        failures: [String(e)],
        figures: {},
      });
    }
  };
  for (const name of wanted) await attempt(name);
  // The modules that also run on PostgreSQL, once more on a PostgreSQL server.
  const onPg: string[] = [];
  for (const name of wanted) {
    const mod = await import(all.get(name)!.href) as Partial<BenchModule>;
    if (mod.engines?.includes("postgres")) onPg.push(name);
  }
  if (onPg.length) {
    const pg = await postgresServer();
    if (typeof pg === "string") console.log(`\npostgres pass skipped (${onPg.join(", ")}): ${pg}`);
    else {
      try {
        for (const name of onPg) await attempt(name, pg.url);
      } finally {
        await pg.stop();
      }
    }
  }
  console.log("\nsummary");
  for (const r of results) {
    const failed = r.failures?.length ? `  FAILED (${r.failures.length})` : "";
    console.log(`  ${r.name.padEnd(24)} ratio ${r.ratio.toFixed(3)}  ${r.ratioLabel}${failed}`);
  }
  if (results.some((r) => r.failures?.length)) Deno.exit(1);
}
