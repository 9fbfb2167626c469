/**
 * The thread of an extraction process that parses (`child.ts` starts it): the process's main
 * thread stays free to watch the memory while this one may be busy for seconds. Receives
 * `{bytes, info, limits}`, answers `{ok: true, …}` or `{ok: false, status, type, message}`.
 * @module
 */
/// <reference lib="deno.worker" />
import { extractOutcome } from "./child.ts";

self.onmessage = async (e: MessageEvent) => {
  self.postMessage(await extractOutcome(e.data.bytes, e.data.info, e.data.limits));
};
