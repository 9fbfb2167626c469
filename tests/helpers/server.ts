/**
 * `startTestServer()`: the real `startServer` on port 0 with a temp data directory, logs kept
 * in memory (`logs`), disposable with `await using`. File bytes go to the data directory, or
 * to an S3 bucket when `DUST_MCP_TEST_FILES_URL` names one (tests/helpers/test_files.ts).
 */
import { type Config, resolveConfig } from "../../src/config.ts";
import { type ServerHandle, type StartOptions, startServer } from "../../src/server.ts";
import { clearTestFiles, testFilesSettings } from "./test_files.ts";

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
  /** Environment variables the config reads (e.g. AWS_* credentials for a `files-url` flag). */
  env?: Record<string, string>;
  /** "local": bytes in the data directory even when DUST_MCP_TEST_FILES_URL is set (tests
   * that look inside that directory). */
  files?: "local";
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "dust-mcp-test-" });
  const ownsDir = !options.dataDir;
  const logs: string[] = [];
  const { handle, config } = await startOnFreePort(options, dataDir, (l) => logs.push(l))
    .catch(async (e) => {
      if (ownsDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      throw e;
    });
  const stop = async () => {
    await handle.stop();
    if (ownsDir) {
      await clearTestFiles(config);
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  };
  return { ...handle, dataDir, config, logs, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Bind first to learn a free port, so the public URL can name it. Another test may take the
 * port between the probe and the real bind: then try another one (at most 5 times).
 */
async function startOnFreePort(
  options: TestServerOptions,
  dataDir: string,
  logSink: (line: string) => void,
): Promise<{ handle: ServerHandle; config: Config }> {
  for (let attempt = 1;; attempt++) {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const files = testFilesSettings(dataDir, options.files);
    const config = resolveConfig({
      port: String(port),
      host: "127.0.0.1",
      "data-dir": dataDir,
      "public-url": options.publicUrl ?? `http://127.0.0.1:${port}`,
      "log-level": "debug",
      ...files.flags,
      ...options.flags,
    }, { ...files.env, ...options.env });
    try {
      const handle = await startServer(config, { logSink, cimdFetch: options.cimdFetch });
      return { handle, config };
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse) || attempt >= 5) throw e;
    }
  }
}
