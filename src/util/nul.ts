/**
 * U+0000 in text from outside the server (a model's output, a tool's result): replaced with
 * U+FFFD before it is stored. PostgreSQL text cannot hold U+0000 and the REST API refuses it in
 * input; what an agent run receives is not the caller's input to refuse, so it is kept, marked.
 * @module
 */

// deno-lint-ignore no-control-regex
const NUL = /\u0000/g;

/** `text` with every U+0000 replaced by U+FFFD. */
export function withoutNul(text: string): string {
  return text.includes("\u0000") ? text.replace(NUL, "\uFFFD") : text;
}

/** A JSON value with every string (keys included) cleaned by {@link withoutNul}. */
export function withoutNulDeep<T>(value: T): T {
  if (typeof value === "string") return withoutNul(value) as T;
  if (Array.isArray(value)) return value.map((v) => withoutNulDeep(v)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[withoutNul(k)] = withoutNulDeep(v);
    return out as T;
  }
  return value;
}
