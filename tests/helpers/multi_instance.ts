/**
 * Several instances of the real program on one PostgreSQL database (and one S3 prefix when
 * `DUST_MCP_TEST_FILES_URL` is set; else one shared files directory), behind a small HTTP proxy
 * on 127.0.0.1 that is their public URL: requests go round-robin to the live instances, or
 * where a route function sends them. Any instance can be killed by PID (SIGKILL); the proxy is
 * then told it is down. A GET or HEAD refused by a dead instance goes to the next live one; any
 * other request the proxy was forwarding to an instance that died fails for the client as a
 * direct request would (the connection breaks), never as a made-up answer: it may or may not
 * have been done. (Not even a "connection refused" proves a POST was never delivered: the
 * fetch client retries a request on a fresh connection when its pooled one breaks, and reports
 * the fresh connection's refusal. Re-sending it elsewhere once wrote a message twice.)
 *
 * ```ts
 * await using c = await startInstances(3, { flags: model.flags });
 * await fetch(`${c.publicUrl}/healthz`);   // round-robin
 * await c.instances[1].kill();             // SIGKILL + marked down
 * ```
 */
import { PostgresDb } from "../../src/db/postgres.ts";
import { freePort, ServerProcess } from "./durability_server.ts";
import { engineEnv } from "./server.ts";

/** The error a forwarded response breaks with when its backend died. */
class BackendGone extends Error {
  override name = "BackendGone";
}

/** Which backend (index) serves a request; undefined = round-robin over the live ones. */
export type Route = (req: Request, url: URL) => number | undefined;

/** An HTTP proxy in front of backends (their base URLs). */
export class Proxy implements AsyncDisposable {
  readonly url: string;
  readonly #server: Deno.HttpServer;
  readonly #down = new Set<number>();
  readonly #inFlight = new Set<AbortController>();
  #next = 0;
  /** Requests forwarded to each backend (tests check the spread). */
  readonly forwarded: number[];

  constructor(readonly backends: string[], public route: Route = () => undefined) {
    this.forwarded = backends.map(() => 0);
    this.#server = Deno.serve(
      // A forwarded body broken on purpose is not a proxy fault worth a stack trace.
      {
        hostname: "127.0.0.1",
        port: 0,
        onListen: () => {},
        onError: () => new Response(null, { status: 502 }),
      },
      (req) => this.#forward(req),
    );
    this.url = `http://127.0.0.1:${(this.#server.addr as Deno.NetAddr).port}`;
  }

  /** Stop sending requests to a backend (it was killed). */
  markDown(i: number): void {
    this.#down.add(i);
  }

  #pick(req: Request, url: URL): number {
    const chosen = this.route(req, url);
    if (chosen !== undefined) return chosen;
    for (let k = 0; k < this.backends.length; k++) {
      const i = this.#next++ % this.backends.length;
      if (!this.#down.has(i)) return i;
    }
    throw new Error("no live backend");
  }

  async #forward(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = req.body ? await req.arrayBuffer() : undefined;
    const abort = new AbortController();
    this.#inFlight.add(abort);
    const done = () => this.#inFlight.delete(abort);
    try {
      let res: Response | null = null;
      for (let attempt = 0; res === null; attempt++) {
        const i = this.#pick(req, url);
        this.forwarded[i]++;
        try {
          res = await fetch(`${this.backends[i]}${url.pathname}${url.search}`, {
            method: req.method,
            headers: req.headers,
            body,
            redirect: "manual",
            signal: abort.signal,
          });
        } catch (e) {
          const idempotent = req.method === "GET" || req.method === "HEAD";
          if (!idempotent || attempt >= this.backends.length) throw e;
          this.markDown(i);
        }
      }
      if (!res.body) {
        done();
        return new Response(null, { status: res.status, headers: res.headers });
      }
      const reader = res.body.getReader();
      const piped = new ReadableStream<Uint8Array>({
        async pull(c) {
          try {
            const { done: end, value } = await reader.read();
            if (end) {
              done();
              c.close();
            } else c.enqueue(value);
          } catch {
            done();
            c.error(new BackendGone()); // the backend died mid-body: the client's read breaks
          }
        },
        cancel(reason) {
          done();
          abort.abort();
          return reader.cancel(reason).catch(() => {});
        },
      });
      return new Response(piped, { status: res.status, headers: res.headers });
    } catch {
      done();
      // The backend died with the request: break the client's response as it would have.
      return new Response(
        new ReadableStream({ start: (c) => c.error(new BackendGone()) }),
        { status: 502 },
      );
    }
  }

  async close(): Promise<void> {
    for (const a of this.#inFlight) a.abort();
    await this.#server.shutdown();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One instance: its own port; `kill()` is SIGKILL and marks it down in the proxy. */
export interface Instance {
  index: number;
  port: number;
  /** Its own address (bypassing the proxy). */
  url: string;
  proc: ServerProcess | null;
  kill(): Promise<void>;
}

export interface Instances extends AsyncDisposable {
  /** The proxy's URL: every instance's `--public-url`. */
  publicUrl: string;
  proxy: Proxy;
  instances: Instance[];
  dataDir: string;
  /** The processes' environment (database URL, files URL and credentials). */
  env: Record<string, string>;
  /** A connection of the test's own to the shared database (closed with the rest). */
  db: PostgresDb;
  stop(): Promise<void>;
}

/**
 * Start `n` instances (in parallel) on a fresh database copied from the migrated template.
 * `flags` go to every instance (the work lease, a model endpoint, lifted rate limits).
 */
export async function startInstances(
  n: number,
  options: { flags?: Record<string, string> } = {},
): Promise<Instances> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-multi-" });
  const env = await engineEnv(dataDir);
  if (!env.DUST_MCP_DATABASE_URL) throw new Error("several instances need PostgreSQL");
  const ports = Array.from({ length: n }, () => freePort());
  const proxy = new Proxy(ports.map((p) => `http://127.0.0.1:${p}`));
  const db = new PostgresDb(env.DUST_MCP_DATABASE_URL, { max: 2 });
  const instances: Instance[] = ports.map((port, index) => {
    const inst: Instance = {
      index,
      port,
      url: `http://127.0.0.1:${port}`,
      proc: null,
      async kill() {
        proxy.markDown(index);
        await inst.proc?.kill();
        inst.proc = null;
      },
    };
    return inst;
  });
  const stop = async () => {
    await Promise.all(instances.map((i) => i.kill()));
    await proxy.close();
    await db.close();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  try {
    await Promise.all(instances.map(async (inst) => {
      inst.proc = await ServerProcess.start(dataDir, inst.port, options.flags ?? {}, env, {
        publicUrl: proxy.url,
      });
    }));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    publicUrl: proxy.url,
    proxy,
    instances,
    dataDir,
    env,
    db,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Read an SSE body until `until` accepts a frame's data (or `ms` passes); returns every frame. */
export async function readFrames(
  res: Response,
  until: (data: Record<string, unknown>, eventId: string) => boolean,
  ms = 15_000,
): Promise<{ eventId: string; data: Record<string, unknown> }[]> {
  const frames: { eventId: string; data: Record<string, unknown> }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const deadline = Date.now() + ms;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    while (Date.now() < deadline) {
      const timeout = new Promise<null>((
        r,
      ) => (timer = setTimeout(() => r(null), deadline - Date.now())));
      const next = await Promise.race([reader.read(), timeout]);
      clearTimeout(timer);
      if (next === null || next.done) break;
      buffer += next.value;
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const line = block.split("\n").find((l) => l.startsWith("data: "));
        if (!line || line === "data: {}" || line === "data: done") continue;
        const frame = JSON.parse(line.slice(6)) as {
          eventId: string;
          data: Record<string, unknown>;
        };
        frames.push(frame);
        if (until(frame.data, frame.eventId)) return frames;
      }
    }
    return frames;
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}
