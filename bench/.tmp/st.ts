const t0 = performance.now();
const { runCli } = await import("../../src/cli.ts");
const t1 = performance.now();
const { resolveConfig } = await import("../../src/config.ts");
const { startServer } = await import("../../src/server.ts");
const dir = Deno.args[0];
const config = resolveConfig({
  "data-dir": dir,
  port: "0",
  host: "127.0.0.1",
  "log-level": "error",
}, {});
const t2 = performance.now();
const s = await startServer(config);
const t3 = performance.now();
await fetch(`${s.url}/healthz`).then((r) => r.text());
const t4 = performance.now();
console.log(
  `import cli ${(t1 - t0).toFixed(0)} ms, startServer ${(t3 - t2).toFixed(0)} ms, first req ${
    (t4 - t3).toFixed(0)
  } ms, rss ${(Deno.memoryUsage().rss / 1e6).toFixed(1)} MB heap ${
    (Deno.memoryUsage().heapUsed / 1e6).toFixed(1)
  }`,
);
await s.stop();
void runCli;
