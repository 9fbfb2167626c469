/// <reference lib="deno.worker" />
/** The Worker side of bench/load.ts: receives LoadOptions, measures, posts the LoadResult. */
import { type LoadOptions, measure, type WorkerMessage } from "./load.ts";

const post = (m: WorkerMessage) => self.postMessage(m);

self.onmessage = async (e: MessageEvent<LoadOptions>) => {
  const result = await measure(e.data, () => post({ phase: "measuring" }));
  post({ phase: "done", result });
  self.close();
};
