/**
 * The extraction process: reads one upload from standard input, runs `extractText` on it and
 * writes the outcome to standard output as JSON, then exits. `ExtractPool` (`pool.ts`)
 * starts one per document, so a document never shares a process (or a parser's state) with
 * another, and killing it stops its work for certain.
 *
 * Input: a 4-byte big-endian length, that many bytes of JSON `{info, limits, memoryBytes}`, then the
 * file's bytes. Output: `{ok: true, text, title, mimeType}` or `{ok: false, status, type,
 * message}` (an `AppError`; anything else becomes a 400 `file_processing_error`, since the
 * parsers throw on malformed input). Parsers' console output goes to standard error so it
 * cannot corrupt the answer.
 *
 * `deno run src/extract/child_main.ts` starts it during development; a compiled binary
 * starts itself with `EXTRACT_CHILD_ARG` as its only argument (`main.ts`).
 * @module
 */
import { AppError } from "../errors.ts";
import { type ExtractInfo, extractText } from "./extract.ts";
import type { ExtractLimits } from "./limits.ts";

/** The argument that makes the compiled binary run as an extraction process. */
export const EXTRACT_CHILD_ARG = "__extract-document";

/** Frame an extraction request for the process's standard input. */
export function encodeRequest(header: unknown, bytes: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + json.length + bytes.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(bytes, 4 + json.length);
  return out;
}

async function answer(value: unknown): Promise<void> {
  const writer = Deno.stdout.writable.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(value)));
  await writer.close();
}

function describe(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 300 ? `${m.slice(0, 300)}…` : m;
}

/** Parsers print warnings with console.log: send everything to standard error. */
function quietConsole(): void {
  const quiet = (...args: unknown[]) => console.error(...args);
  Object.assign(console, { log: quiet, info: quiet, warn: quiet, debug: quiet });
}

/** `extractText` as an answer object (never throws). */
export async function extractOutcome(
  bytes: Uint8Array,
  info: ExtractInfo,
  limits: Partial<ExtractLimits>,
): Promise<Record<string, unknown>> {
  quietConsole();
  try {
    return { ok: true, ...await extractText(bytes, info, limits) };
  } catch (e) {
    return e instanceof AppError
      ? { ok: false, status: e.status, type: e.type, message: e.message }
      : {
        ok: false,
        status: 400,
        type: "file_processing_error",
        message: `The document could not be read: ${describe(e)}`,
      };
  }
}

/**
 * Run one extraction over standard input/output; the exit code. The parsing runs on a worker
 * thread (`child_worker.ts`) while this thread watches the process's resident memory every
 * 50 ms: past `memoryBytes` it answers the refusal and exits, which ends the worker however
 * busy it is. (The server cannot watch it from outside: Deno asks for `--allow-all` to read
 * `/proc`.)
 */
export async function runExtractChild(): Promise<number> {
  quietConsole();
  const input = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  const length = input.length >= 4 ? new DataView(input.buffer).getUint32(0) : -1;
  if (length < 0 || 4 + length > input.length) {
    await answer({ ok: false, status: 500, type: "internal_server_error", message: "bad frame" });
    return 2;
  }
  const header = JSON.parse(new TextDecoder().decode(input.subarray(4, 4 + length)));
  const bytes = input.slice(4 + length);
  const memoryBytes = Number(header.memoryBytes);
  const worker = new Worker(new URL("./child_worker.ts", import.meta.url).href, {
    type: "module",
  });
  const outcome = await new Promise<Record<string, unknown>>((resolve) => {
    const watch = setInterval(() => {
      if (Deno.memoryUsage().rss <= memoryBytes) return;
      clearInterval(watch);
      resolve({
        ok: false,
        status: 400,
        type: "file_processing_error",
        message: `Reading the document needed more than ${
          Math.round(memoryBytes / 2 ** 20)
        } MB of memory and was stopped (it may be malformed, e.g. a compression bomb).`,
      });
    }, 50);
    worker.onmessage = (e) => (clearInterval(watch), resolve(e.data));
    worker.onerror = (e) => {
      e.preventDefault();
      clearInterval(watch);
      resolve({
        ok: false,
        status: 400,
        type: "file_processing_error",
        message: `The document could not be read: ${e.message}`,
      });
    };
    worker.postMessage({ bytes, info: header.info, limits: header.limits }, [bytes.buffer]);
  });
  await answer(outcome);
  // Exiting ends the worker even when it is still busy (terminate() would not stop it).
  Deno.exit(0);
}
