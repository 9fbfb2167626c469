/**
 * Helpers for sequences of awaited work.
 * @module
 */

/**
 * `items.map(fn)` for an async `fn`, one item at a time and in order: database writes keep
 * their order (ids, event order) and never pile up as concurrent queries.
 */
export async function mapSeries<T, U>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<U>,
): Promise<U[]> {
  const out: U[] = [];
  for (let i = 0; i < items.length; i++) out.push(await fn(items[i], i));
  return out;
}
