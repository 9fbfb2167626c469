/**
 * Which methods the app serves on a path, read from its route table, so that a known path
 * called with another method answers Dust's 405 `method_not_supported_error` with `Allow`,
 * and `OPTIONS` answers 204 with the same `Allow`, the same way on every route.
 *
 * The route a path names is its most specific pattern: static segments before parameters
 * before wildcards, as the router prefers them. So `PATCH agent_configurations/search` is a
 * 405 (only `GET …/search` exists) and does not fall through to `PATCH …/{sId}`.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";

interface RouteLike {
  method: string;
  path: string;
}

interface Entry {
  pattern: RegExp;
  method: string;
  /** Per segment: 2 static, 1 parameter, 0 wildcard (higher is more specific). */
  rank: number[];
}

/** A route path (`/a/:id/b`, `/x/*`) as an anchored regular expression. */
function pathPattern(path: string): RegExp {
  const body = path.split("/").map((part) => {
    if (part === "*") return ".*";
    if (part.startsWith(":")) return part.includes("{") ? ".+" : "[^/]+";
    return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("/");
  return new RegExp(`^${body}$`);
}

function rankOf(path: string): number[] {
  return path.split("/").map((p) => (p === "*" ? 0 : p.startsWith(":") ? 1 : 2));
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Routes bucketed by segment count and fifth segment (`/api/v1/w/:wId/<here>`), so a lookup
 * tests a handful of patterns, not all of them (~1 µs instead of ~8 per request); routes with
 * a wildcard or a parameter there are tested for every path.
 */
interface Table {
  buckets: Map<string, Entry[]>;
  loose: Entry[];
}

const KEY_SEGMENT = 5;

function bucketKey(segments: string[]): string {
  return `${segments.length}/${segments[KEY_SEGMENT] ?? ""}`;
}

function buildTable(routes: readonly RouteLike[]): Table {
  const table: Table = { buckets: new Map(), loose: [] };
  for (const r of routes) {
    const entry = { pattern: pathPattern(r.path), method: r.method, rank: rankOf(r.path) };
    const segments = r.path.split("/");
    const at = segments[KEY_SEGMENT];
    if (r.path.includes("*") || r.path.includes("{") || at?.startsWith(":")) {
      table.loose.push(entry);
      continue;
    }
    const key = bucketKey(segments);
    table.buckets.set(key, [...(table.buckets.get(key) ?? []), entry]);
  }
  return table;
}

/**
 * Build a lookup from the app's routes (read once: the route table is fixed after
 * `createApp`). It answers the methods of the most specific patterns matching a path, `[]`
 * when none matches, or `null` when one of them takes any method (`app.all`, or middleware
 * registered on that exact path), where this module has nothing to say.
 */
export function allowedMethodsLookup(routes: () => readonly RouteLike[]) {
  let table: Table | null = null;
  return (path: string): string[] | null => {
    table ??= buildTable(routes());
    let best: Entry[] = [];
    for (const list of [table.buckets.get(bucketKey(path.split("/"))), table.loose]) {
      for (const e of list ?? []) {
        if (!e.pattern.test(path)) continue;
        const d = best.length ? compareRanks(e.rank, best[0].rank) : 1;
        if (d > 0) best = [e];
        else if (d === 0) best.push(e);
      }
    }
    const any = best.filter((e) => e.method === "ALL").length;
    // Only wildcard middleware (`*`, `/api/v1/w/:wId/*`) matches: no route here.
    if (any && any === best.length && best[0].rank.includes(0)) return [];
    if (any) return null;
    return [...new Set(best.map((e) => e.method))].sort();
  };
}

/** Dust's 405, with `Allow`. */
export function methodNotAllowed(c: Context, allowed: string[]): Response {
  c.header("Allow", allowed.join(", "));
  const message = `The method ${c.req.method} is not supported on ${c.req.path} (${
    allowed.join(", ")
  }).`;
  return c.json({ error: { type: "method_not_supported_error", message } }, 405);
}

/**
 * Answer `OPTIONS` (204 + `Allow`) and methods a known path does not serve (405 + `Allow`)
 * before any handler runs; everything else goes on.
 */
export function enforceAllowedMethods(
  lookup: (path: string) => string[] | null,
): MiddlewareHandler {
  return async (c, next) => {
    const allowed = lookup(c.req.path);
    if (!allowed?.length) return await next();
    const method = c.req.method;
    if (method === "OPTIONS") {
      return c.body(null, 204, { Allow: allowed.join(", ") });
    }
    if (allowed.includes(method) || (method === "HEAD" && allowed.includes("GET"))) {
      return await next();
    }
    return methodNotAllowed(c, allowed);
  };
}
