/// <reference lib="deno.worker" />
/** The Worker side of bench/load.ts: receives LoadOptions, measures, posts the LoadResult. */
import { type LoadOptions, mainThreadCpuMs, measure, type WorkerMessage } from "./load.ts";

const post = (m: WorkerMessage) => self.postMessage(m);

self.onmessage = async (e: MessageEvent<LoadOptions>) => {
  // This thread's own CPU (the generator's), so the server's share of the process is known.
  let started: number | null = null;
  const result = await measure(e.data, () => {
    started = mainThreadCpuMs();
    post({ phase: "measuring" });
  });
  const ended = mainThreadCpuMs();
  const generatorCpuMs = started !== null && ended !== null ? ended - started : undefined;
  post({ phase: "done", result: { ...result, generatorCpuMs } });
  self.close();
};
