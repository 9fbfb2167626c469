const t0 = performance.now();
const { resolveConfig } = await import("../../src/config.ts");
const { startServer } = await import("../../src/server.ts");
const t1 = performance.now();
const config = resolveConfig({
  "data-dir": Deno.args[0],
  port: "0",
  host: "127.0.0.1",
  "log-level": "error",
}, {});
const s = await startServer(config);
const t2 = performance.now();
await fetch(`${s.url}/healthz`).then((r) => r.text());
const t3 = performance.now();
await fetch(`${s.url}/healthz`).then((r) => r.text());
const t4 = performance.now();
const m = Deno.memoryUsage();
console.log(
  `import ${(t1 - t0).toFixed(0)} start ${(t2 - t1).toFixed(0)} req1 ${(t3 - t2).toFixed(1)} req2 ${
    (t4 - t3).toFixed(1)
  } rss ${(m.rss / 1e6).toFixed(1)} heapTotal ${(m.heapTotal / 1e6).toFixed(1)} heapUsed ${
    (m.heapUsed / 1e6).toFixed(1)
  } ext ${(m.external / 1e6).toFixed(1)}`,
);
await s.stop();
