/**
 * `ExtractPool`: runs `extractText` for the server, each document in a process of its own
 * (`child.ts`), at most `processes` at once, with a time limit and a memory limit after
 * which the process is killed (SIGKILL) and the upload refused with a clear 400.
 *
 * Why processes and not Web Workers (as `search_worker.ts` uses): measured on Deno 2.9.6,
 * `Worker.terminate()` does not stop a worker busy in JavaScript — its thread went on using a
 * full core 25 s after the call — and a worker's memory is the server's: a 1 MB PDF whose
 * content stream inflates to 1 GB took the process to 3.2 GB of RSS while PDF.js decoded it.
 * A process is stopped for certain by a kill, its memory is its own (it watches its own
 * resident size and gives up past `memoryBytes`, `child.ts`; its V8 heap is capped by
 * `--max-old-space-size`), a crash takes down only that document, and it shares no parser
 * state with another tenant's document. Its cost: ~30-200 ms to start per document.
 *
 * During development the process is `deno run --no-prompt src/extract/child_main.ts` with one
 * permission: reading the server's sources under `src/`, to start its parsing thread
 * (`child_worker.ts`); no network, no other file (not the data directory), no environment. A compiled binary
 * runs itself with `EXTRACT_CHILD_ARG` (the binary's own permissions; it reads no setting and
 * no secret: its environment is cleared). Either way the server needs `--allow-run` for that
 * one program (`deno task start`: `--allow-run=deno`; `deno task compile`:
 * `--allow-run=dust-mcp`, the binary found on PATH under that name, as in the Docker image).
 * Without it, uploads answer 503 and the server logs why once at start.
 *
 * Fair enough for an upload path: a member has at most `memberInFlight` documents running or
 * waiting (then 429), and at most `maxWaiting` wait in all (then 503).
 * @module
 */
import { AppError, rateLimited } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import { encodeRequest, EXTRACT_CHILD_ARG } from "./child.ts";
import type { ExtractInfo, ExtractResult } from "./extract.ts";
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits, textTooLong, unreadable } from "./limits.ts";

export interface ExtractPoolOptions {
  /** Extraction processes running at once (default 1). */
  processes?: number;
  /** Time one document may take, start-up included (default 20 s). */
  timeoutMs?: number;
  /** Resident memory one extraction process may use (default 512 MiB). */
  memoryBytes?: number;
  /** Documents waiting for a process, all members together (default 16); past it, 503. */
  maxWaiting?: number;
  /** Documents one member may have running or waiting (default 3); past it, 429. */
  memberInFlight?: number;
  /** Narrower extraction limits (tests); the defaults are the server's. */
  limits?: Partial<ExtractLimits>;
  log?: Logger;
  /** Called with each extraction process's id as it starts (tests, diagnostics). */
  onSpawn?: (pid: number) => void;
}

interface Job {
  bytes: Uint8Array;
  info: ExtractInfo;
  owner: string;
  resolve: (r: ExtractResult) => void;
  reject: (e: unknown) => void;
}

type StopReason = "time" | "output" | "closing";

const MIB = 2 ** 20;
const STDERR_KEPT = 2048;

/** Variables an extraction process may see: where Deno's cache is, nothing else. */
const PASSED_ENV = ["DENO_DIR", "HOME", "XDG_CACHE_HOME", "PATH", "TMPDIR"];

/**
 * The program to start: this executable by its path when that is allowed (`-A`, tests), else
 * by the name `--allow-run` grants (`deno`, or `dust-mcp` for a compiled binary), which Deno
 * matches literally (it does not follow the symlinks of PATH). Null: not allowed to.
 */
function childProgram(): string | null {
  const names = [Deno.execPath(), Deno.build.standalone ? "dust-mcp" : "deno"];
  for (const command of names) {
    try {
      if (Deno.permissions.querySync({ name: "run", command }).state === "granted") return command;
    } catch { /* not a valid query: try the next */ }
  }
  return null;
}

function childCommand(memoryMib: number): { args: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const k of PASSED_ENV) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  const v8 = `--max-old-space-size=${memoryMib}`;
  if (Deno.build.standalone) {
    return { args: [EXTRACT_CHILD_ARG], env: { ...env, DENO_V8_FLAGS: v8 } };
  }
  const path = (u: URL) => decodeURIComponent(u.pathname);
  return {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${path(new URL("../../deno.json", import.meta.url))}`, // dev-only
      `--v8-flags=${v8}`,
      // Only to start its parsing thread: a worker's modules need read access to the sources.
      `--allow-read=${path(new URL("../", import.meta.url))}`, // dev-only
      path(new URL("./child_main.ts", import.meta.url)), // dev-only
    ],
    env,
  };
}

/** Read a stream whole, or stop (calling `over`) once it passes `max` bytes. */
async function readAll(
  stream: ReadableStream<Uint8Array>,
  max: number,
  over: () => void,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > max) {
      over();
      continue; // keep draining so the process can exit
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(Math.min(size, max));
  let o = 0;
  for (const c of chunks) (out.set(c, o), o += c.length);
  return out;
}

/** The last bytes of a stream, as text (for the log). */
async function readTail(stream: ReadableStream<Uint8Array>): Promise<string> {
  let tail = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    tail = (tail + chunk).slice(-STDERR_KEPT);
  }
  return tail;
}

export class ExtractPool {
  readonly #processes: number;
  readonly #timeoutMs: number;
  readonly #memoryBytes: number;
  readonly #maxWaiting: number;
  readonly #memberInFlight: number;
  readonly #limits: ExtractLimits;
  readonly #log?: Logger;
  readonly #onSpawn?: (pid: number) => void;
  readonly #waiting: Job[] = [];
  readonly #inFlight = new Map<string, number>();
  /** Each running process and how to stop it. */
  readonly #children = new Map<Deno.ChildProcess, (why: StopReason) => void>();
  readonly #settled = new Set<Promise<void>>();
  #running = 0;
  #closed = false;

  constructor(options: ExtractPoolOptions = {}) {
    this.#processes = Math.max(1, options.processes ?? 1);
    this.#timeoutMs = options.timeoutMs ?? 20_000;
    this.#memoryBytes = options.memoryBytes ?? 512 * MIB;
    this.#maxWaiting = options.maxWaiting ?? 16;
    this.#memberInFlight = Math.max(1, options.memberInFlight ?? 3);
    this.#limits = { ...DEFAULT_EXTRACT_LIMITS, ...options.limits };
    this.#log = options.log;
    this.#onSpawn = options.onSpawn;
    if (options.log && childProgram() === null) {
      options.log.warn("document uploads are unavailable", {
        reason: `no permission to run ${Deno.execPath()} (see --allow-run in the README)`,
      });
    }
  }

  /** The limits documents are extracted under. */
  get limits(): Readonly<ExtractLimits> {
    return this.#limits;
  }

  /** Extraction processes alive now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Extract one document in a process of its own. `owner` names who asked (`user:<id>`,
   * `key:<id>`) for the per-member cap. The bytes are the pool's from here on.
   */
  extract(
    bytes: Uint8Array,
    info: ExtractInfo,
    options: { owner?: string } = {},
  ): Promise<ExtractResult> {
    if (this.#closed) return Promise.reject(stopping());
    const owner = options.owner ?? "server";
    if ((this.#inFlight.get(owner) ?? 0) >= this.#memberInFlight) {
      return Promise.reject(rateLimited(
        `Too many documents being read for you: at most ${this.#memberInFlight} at once. ` +
          "Retry when one has finished.",
        1,
      ));
    }
    if (this.#running >= this.#processes && this.#waiting.length >= this.#maxWaiting) {
      return Promise.reject(
        new AppError(
          503,
          "service_unavailable",
          "Too many documents are being read; retry shortly.",
        ),
      );
    }
    this.#inFlight.set(owner, (this.#inFlight.get(owner) ?? 0) + 1);
    return new Promise<ExtractResult>((resolve, reject) => {
      this.#waiting.push({ bytes, info, owner, resolve, reject });
      this.#dispatch();
    });
  }

  /** Kill every extraction process, fail what waits, and wait until the processes are gone. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#waiting.splice(0)) this.#done(job, stopping());
    for (const stop of this.#children.values()) stop("closing");
    await Promise.all(this.#settled);
  }

  #dispatch(): void {
    while (this.#running < this.#processes && this.#waiting.length > 0) {
      const job = this.#waiting.shift()!;
      this.#running++;
      const settled = this.#run(job).then(
        (r) => this.#done(job, null, r),
        (e) => this.#done(job, e),
      ).finally(() => {
        this.#running--;
        this.#settled.delete(settled);
        this.#dispatch();
      });
      this.#settled.add(settled);
    }
  }

  #done(job: Job, error: unknown, result?: ExtractResult): void {
    const n = (this.#inFlight.get(job.owner) ?? 1) - 1;
    if (n > 0) this.#inFlight.set(job.owner, n);
    else this.#inFlight.delete(job.owner);
    if (error) job.reject(error);
    else job.resolve(result!);
  }

  async #run(job: Job): Promise<ExtractResult> {
    const { args, env } = childCommand(Math.ceil(this.#memoryBytes / MIB));
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(childProgram() ?? Deno.execPath(), {
        args,
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      this.#log?.error("extraction process could not start", { error: String(e) });
      throw new AppError(
        503,
        "service_unavailable",
        "Document extraction is unavailable: the server could not start its extraction process.",
      );
    }
    let stoppedFor: StopReason | null = null;
    const stop = (why: StopReason) => {
      stoppedFor ??= why;
      kill(child);
    };
    this.#children.set(child, stop);
    const timer = setTimeout(() => stop("time"), this.#timeoutMs);
    this.#onSpawn?.(child.pid);
    try {
      const request = encodeRequest(
        { info: job.info, limits: this.#limits, memoryBytes: this.#memoryBytes },
        job.bytes,
      );
      job.bytes = new Uint8Array(0); // the copy in `request` is all the child needs
      const writer = child.stdin.getWriter();
      const written = writer.write(request).then(() => writer.close()).catch(() => {});
      const outMax = this.#limits.maxTextChars * 6 + 64 * 1024;
      const [out, err, status] = await Promise.all([
        readAll(child.stdout, outMax, () => stop("output")),
        readTail(child.stderr),
        child.status,
        written,
      ]);
      return this.#outcome(stoppedFor, out, err, status);
    } finally {
      clearTimeout(timer);
      this.#children.delete(child);
    }
  }

  #outcome(
    stoppedFor: StopReason | null,
    out: Uint8Array,
    stderr: string,
    status: Deno.CommandStatus,
  ): ExtractResult {
    if (stoppedFor === "closing") throw stopping();
    if (stoppedFor === "time") {
      throw unreadable(
        `Reading the document took longer than ${
          this.#timeoutMs / 1000
        } s and was stopped (it may be malformed or too complex). Try a smaller or simpler file.`,
      );
    }
    if (stoppedFor === "output") throw textTooLong(this.#limits.maxTextChars);
    let answer: Record<string, unknown> | null = null;
    try {
      answer = JSON.parse(new TextDecoder().decode(out));
    } catch { /* no answer: the process died */ }
    if (answer?.ok === true) {
      return {
        text: String(answer.text),
        title: typeof answer.title === "string" ? answer.title : null,
        mimeType: String(answer.mimeType),
      };
    }
    if (answer?.ok === false && typeof answer.message === "string") {
      throw new AppError(Number(answer.status), answer.type as AppError["type"], answer.message);
    }
    this.#log?.warn("extraction process failed", {
      code: status.code,
      signal: status.signal,
      stderr,
    });
    throw unreadable(
      "The document could not be read: the extraction process stopped unexpectedly (the file " +
        `may be malformed, or need more than ${Math.round(this.#memoryBytes / MIB)} MB).`,
    );
  }
}

function stopping(): AppError {
  return new AppError(503, "service_unavailable", "The server is stopping.");
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
}
