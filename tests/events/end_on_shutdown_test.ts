/**
 * `onAbort`: every open event stream ends when the server's shutdown signal aborts, through one
 * listener on the signal (Deno's EventTarget adds a listener in time linear in those it holds:
 * 10,000 streams spent 10 s of CPU adding theirs).
 */
import assert from "node:assert/strict";
import { onAbort } from "../../src/events/end_on_shutdown.ts";

Deno.test("[events] onAbort: 10,000 callbacks, one listener on the signal; all run once on abort, undone ones not", () => {
  const controller = new AbortController();
  const signal = controller.signal;
  let listeners = 0;
  const add = signal.addEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<AbortSignal["addEventListener"]>) => {
    listeners++;
    add(...args);
  }) as AbortSignal["addEventListener"];
  let ran = 0;
  const undo = Array.from({ length: 10_000 }, () => onAbort(signal, () => ran++));
  assert.equal(listeners, 1);
  for (const u of undo.slice(0, 100)) u();
  controller.abort();
  assert.equal(ran, 9_900);
  controller.abort();
  assert.equal(ran, 9_900);
});
