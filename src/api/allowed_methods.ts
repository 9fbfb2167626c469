/**
 * Which methods the app serves on a path, so a known path called with another method answers
 * Dust's 405 `method_not_supported_error` (with `Allow`) instead of a 404 "no route".
 * @module
 */

interface RouteLike {
  method: string;
  path: string;
}

/** A route path (`/a/:id/b`, `/x/*`) as an anchored regular expression. */
function pathPattern(path: string): RegExp {
  const body = path.split("/").map((part) => {
    if (part === "*") return ".*";
    if (part.startsWith(":")) return part.includes("{") ? ".+" : "[^/]+";
    return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("/");
  return new RegExp(`^${body}/?$`);
}

/**
 * Build a lookup from the app's routes (read once: the route table is fixed after
 * `createApp`). Middleware entries (method `ALL`) are not routes and are ignored.
 */
export function allowedMethodsLookup(routes: () => readonly RouteLike[]) {
  let table: { pattern: RegExp; method: string }[] | null = null;
  return (path: string): string[] => {
    table ??= routes().filter((r) => r.method !== "ALL")
      .map((r) => ({ pattern: pathPattern(r.path), method: r.method }));
    const methods = new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method));
    return [...methods].sort();
  };
}
