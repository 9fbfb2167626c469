/**
 * Stream helpers.
 * @module
 */

/**
 * `stream`, failing with `onLate()` unless it has ended `ms` after this call: a reader that
 * must be done by a deadline (an upload, whose end the orphan sweep's margin relies on). The
 * source is cancelled when the deadline passes; `done()` clears the timer (call it however
 * the reading ends).
 */
export function endBy<T>(
  stream: ReadableStream<T>,
  ms: number,
  onLate: () => Error,
): { stream: ReadableStream<T>; done(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new TransformStream<T, T>({
    start(controller) {
      timer = setTimeout(() => controller.error(onLate()), ms);
    },
    flush() {
      clearTimeout(timer);
    },
  });
  return { stream: stream.pipeThrough(deadline), done: () => clearTimeout(timer) };
}
