const { resolveConfig } = await import("../../src/config.ts");
const { startServer } = await import("../../src/server.ts");
const { createApp } = await import("../../src/app.ts");
const config = resolveConfig({
  "data-dir": Deno.args[0],
  port: "0",
  host: "127.0.0.1",
  "log-level": "error",
}, {});
const s = await startServer(config);
const app = createApp(s.deps);
let t = performance.now();
await app.request("/healthz");
console.log(
  "first app.request",
  (performance.now() - t).toFixed(1),
  "ms",
  (app.router as any).name,
  (app.router as any).activeRouter?.name,
  app.routes.length,
  "routes",
);
t = performance.now();
await app.request("/healthz");
console.log("second", (performance.now() - t).toFixed(1));
await s.stop();
