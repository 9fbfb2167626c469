/**
 * The extraction process: reads one upload from standard input, runs `extractText` on it and
 * writes the outcome to standard output as JSON, then exits. `ExtractPool` (`pool.ts`)
 * starts one per document, so a document never shares a process (or a parser's state) with
 * another, and killing it stops its work for certain.
 *
 * Input: a 4-byte big-endian length, that many bytes of JSON `{info, limits}`, then the
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
import { extractText } from "./extract.ts";

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

/** Run one extraction over standard input/output; the exit code. */
export async function runExtractChild(): Promise<number> {
  const quiet = (...args: unknown[]) => console.error(...args);
  Object.assign(console, { log: quiet, info: quiet, warn: quiet, debug: quiet });
  const input = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  const length = input.length >= 4 ? new DataView(input.buffer).getUint32(0) : -1;
  if (length < 0 || 4 + length > input.length) {
    await answer({ ok: false, status: 500, type: "internal_server_error", message: "bad frame" });
    return 2;
  }
  const header = JSON.parse(new TextDecoder().decode(input.subarray(4, 4 + length)));
  try {
    const r = await extractText(input.subarray(4 + length), header.info, header.limits);
    await answer({ ok: true, ...r });
  } catch (e) {
    await answer(
      e instanceof AppError ? { ok: false, status: e.status, type: e.type, message: e.message } : {
        ok: false,
        status: 400,
        type: "file_processing_error",
        message: `The document could not be read: ${describe(e)}`,
      },
    );
  }
  return 0;
}
