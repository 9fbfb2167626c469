/**
 * `startTestServer()`: the real `startServer` on port 0 with a temp data directory, logs kept
 * in memory (`logs`), disposable with `await using`.
 */
import { type Config, resolveConfig } from "../../src/config.ts";
import { type ServerHandle, type StartOptions, startServer } from "../../src/server.ts";

export interface TestServer extends ServerHandle {
  dataDir: string;
  config: Config;
  /** Every log line written so far (JSON strings). */
  logs: string[];
}

export interface TestServerOptions {
  /** Extra flags (e.g. `{ "peer-url": "http://..." }`), as on the command line. */
  flags?: Record<string, string>;
  /** Reuse a data directory (restarts); it is then not deleted on dispose. */
  dataDir?: string;
  /** Public URL; defaults to the listening URL so that metadata and tokens match. */
  publicUrl?: string;
  /** CIMD test hook (see StartOptions.cimdFetch). */
  cimdFetch?: StartOptions["cimdFetch"];
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "dust-mcp-test-" });
  const ownsDir = !options.dataDir;
  const logs: string[] = [];
  // Bind first to learn a free port, so the public URL can name it.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const config = resolveConfig({
    port: String(port),
    host: "127.0.0.1",
    "data-dir": dataDir,
    "public-url": options.publicUrl ?? `http://127.0.0.1:${port}`,
    "log-level": "debug",
    ...options.flags,
  }, {});
  const handle = await startServer(config, {
    logSink: (l) => logs.push(l),
    cimdFetch: options.cimdFetch,
  });
  const stop = async () => {
    await handle.stop();
    if (ownsDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  return { ...handle, dataDir, config, logs, stop, [Symbol.asyncDispose]: stop };
}
