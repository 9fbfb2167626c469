/**
 * Running the fuzzer's properties: one seed per process (`FUZZ_SEED` to replay, printed at
 * start and in every failure), fixed run counts (`FUZZ_SCALE` multiplies them), status counts
 * per route after each property with `FUZZ_STATS=1` (how deep the fuzzer reaches), and the
 * routes of the server's own OpenAPI document.
 */
import fc from "fast-check";
import type { FuzzWorld } from "./fuzz_world.ts";
import { assertServerHealthy, printStats } from "./fuzz_check.ts";

const fromEnv = Deno.env.get("FUZZ_SEED");
/** The seed of this run: `FUZZ_SEED` or a fresh one. */
export const FUZZ_SEED = fromEnv ? Number(fromEnv) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
const SCALE = Number(Deno.env.get("FUZZ_SCALE") ?? "1");

let announced = false;

/** `numRuns` scaled by `FUZZ_SCALE` (at least 1). */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * SCALE));
}

/**
 * Check an async property with the run's seed, then that the server is healthy and logged no
 * error while it ran. `label` names the property in failures.
 */
export async function checkProperty<T>(
  world: FuzzWorld,
  label: string,
  arb: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void>,
  numRuns: number,
): Promise<void> {
  if (!announced) {
    announced = true;
    console.log(`fuzz seed ${FUZZ_SEED} (replay with FUZZ_SEED=${FUZZ_SEED})`);
  }
  const logFrom = world.server.logs.length;
  const out = await fc.check(fc.asyncProperty(arb, predicate), {
    seed: FUZZ_SEED,
    numRuns: runs(numRuns),
    endOnFailure: true,
  });
  if (out.failed) {
    const error = out.errorInstance instanceof Error
      ? out.errorInstance.message
      : String(out.errorInstance);
    throw new Error(
      `[${label}] failed after ${out.numRuns} runs; replay: FUZZ_SEED=${out.seed} ` +
        `(path ${out.counterexamplePath})\n${clip(error, 1200)}\ncounterexample: ${
          clip(describe(out.counterexample?.[0]), 1500)
        }`,
    );
  }
  await assertServerHealthy(world, logFrom);
  printStats(label);
}

/** A short, secret-free description of a generated value (tenants by label only). */
function describe(value: unknown): string {
  return JSON.stringify(value, (k, v) => {
    if (k === "as" && v && typeof v === "object") return `tenant ${v.label}`;
    if (typeof v === "string") return clip(v, 200);
    return v;
  }) ?? String(value);
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s;
}

/** One operation of the OpenAPI document. */
export interface ApiOperation {
  method: string;
  /** Path template with `{name}` parameters. */
  path: string;
  pathParams: string[];
  // deno-lint-ignore no-explicit-any
  query: Array<{ name: string; required: boolean; schema: any }>;
  // deno-lint-ignore no-explicit-any
  bodySchema: any | null;
}

/** Every operation of the server's `GET /api/v1/openapi.json`, and the document itself. */
export async function listApiOperations(
  world: FuzzWorld,
  // deno-lint-ignore no-explicit-any
): Promise<{ ops: ApiOperation[]; doc: any }> {
  const res = await fetch(`${world.server.url}/api/v1/openapi.json`);
  const doc = await res.json();
  const ops: ApiOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const [method, raw] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      // deno-lint-ignore no-explicit-any
      const op = raw as any;
      // deno-lint-ignore no-explicit-any
      const params: any[] = [...(op.parameters ?? [])];
      ops.push({
        method: method.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
        query: params.filter((p) => p.in === "query").map((p) => ({
          name: p.name,
          required: p.required === true,
          schema: p.schema,
        })),
        bodySchema: op.requestBody?.content?.["application/json"]?.schema ?? null,
      });
    }
  }
  return { ops, doc };
}
