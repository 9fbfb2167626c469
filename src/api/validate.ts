/**
 * Request validation for REST handlers: every body and query goes through one zod schema.
 * A bad one is a 400 `invalid_request_error` whose message names the field and the reason
 * (`name: Too big: expected string to have <=64 characters`); malformed JSON is a 400 too, and
 * so is a body nested deeper than {@link MAX_JSON_DEPTH} levels (checked before any schema
 * walks it: a recursive schema recurses once per level).
 * @module
 */
import type { Context } from "hono";
import type { z } from "zod";
import { invalid } from "../errors.ts";
import { jsonDepthExceeds, MAX_JSON_DEPTH } from "../util/json_depth.ts";

/** One readable line naming each failing field (at most five) and why. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], where: string): string {
  return issues.slice(0, 5).map((i) => {
    const path = i.path.length ? i.path.map(String).join(".") : where;
    return `${path}: ${i.message}`;
  }).join("; ");
}

/** Parse `value` with `schema` or throw a 400 naming the fields. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(describeIssues(r.error.issues, where));
  return r.data;
}

/**
 * Read and validate a JSON body. An empty body is parsed as `{}` so that all-optional bodies
 * (and "missing field" messages) work without the client sending `{}`.
 */
export async function parseJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw invalid(`body: malformed JSON (${(e as Error).message})`);
    }
    if (jsonDepthExceeds(value)) {
      throw invalid(`body: nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
  }
  return parseWith(schema, value, "body");
}

/**
 * Validate the query string against an object schema of the route's parameters. A parameter
 * given once is a string, a repeated one an array of strings (Dust accepts both for `tags_in`
 * and the like); schemas coerce numbers themselves. Parameters the schema does not name are
 * ignored, as Dust ignores them: this is the one place that decides it for every route (a
 * strict schema cannot refuse them, since they never reach it).
 */
export function parseQuery<S extends z.ZodObject>(c: Context, schema: S): z.output<S> {
  const url = new URL(c.req.url);
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    if (!Object.hasOwn(schema.shape, key)) continue;
    const all = url.searchParams.getAll(key);
    out[key] = all.length === 1 ? all[0] : all;
  }
  return parseWith(schema, out, "query");
}
