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

/**
 * Run `fn` over `items`, `width` at a time; the first failure stops new work, waits for the
 * work under way, then rejects with it.
 */
export async function inPool<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failure) throw (failure as { error: unknown }).error;
}
