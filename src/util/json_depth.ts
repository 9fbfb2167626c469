/**
 * A bound on the nesting of parsed JSON. `JSON.parse` itself nests without limit, but what
 * comes after may recurse once per level (zod's recursive schemas, SQLite's JSON functions stop
 * at 1,000 levels, serializers): a body nested 5,000 deep overflowed the stack in a recursive
 * schema and answered 500. Bodies are checked once where they are parsed, without recursion.
 * @module
 */

/**
 * Deepest nesting a JSON body may have (serde_json's default recursion limit): an object or
 * array counts one level. Dust's section trees, the deepest legitimate input, are bounded at
 * 32 sections, 66 levels of JSON.
 */
export const MAX_JSON_DEPTH = 128;

/** Whether `value` nests objects or arrays deeper than `max` levels (iterative walk). */
export function jsonDepthExceeds(value: unknown, max = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== "object") return false;
  const stack: object[] = [value];
  const depths: number[] = [1];
  const visit = (child: unknown, depth: number) => {
    if (child !== null && typeof child === "object") {
      stack.push(child);
      depths.push(depth);
    }
  };
  while (stack.length > 0) {
    const v = stack.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return true;
    if (Array.isArray(v)) { for (const child of v) visit(child, depth + 1); }
    else for (const key in v) visit((v as Record<string, unknown>)[key], depth + 1);
  }
  return false;
}
