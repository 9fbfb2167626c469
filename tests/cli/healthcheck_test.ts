/**
 * `healthcheck`: the container image has no shell or curl, so the binary asks its own
 * `/healthz` (compose.yaml's health checks run it). 0 only for an answer of status ok.
 */
import assert from "node:assert/strict";
import { runCli } from "../../src/cli.ts";
import { startTestServer } from "../helpers/server.ts";
import { captureIo } from "./capture_io.ts";

async function healthcheck(port: number, host: string) {
  const io = captureIo();
  const code = await runCli(["healthcheck", "--port", String(port), "--host", host], io, {});
  return { code, out: io.stdout, err: io.stderr.join("\n") };
}

Deno.test("[cli] healthcheck exits 0 when /healthz answers ok (0.0.0.0 asks 127.0.0.1)", async () => {
  await using server = await startTestServer();
  assert.deepEqual(await healthcheck(server.port, "0.0.0.0"), { code: 0, out: ["ok"], err: "" });
  assert.equal((await healthcheck(server.port, "127.0.0.1")).code, 0);
});

Deno.test("[cli] healthcheck exits 1 when nothing listens or /healthz is not ok", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const refused = await healthcheck(closed, "127.0.0.1");
  assert.equal(refused.code, 1);
  assert.match(refused.err, new RegExp(`^dust-mcp: http://127\\.0\\.0\\.1:${closed}/healthz: `));

  // A listener that answers 500 (the database of a real server is unusable).
  await using failing = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ error: "database closed" }, { status: 500 }),
  );
  const broken = await healthcheck(failing.addr.port, "127.0.0.1");
  assert.deepEqual(broken.code, 1);
  assert.match(broken.err, /answered 500$/);
});
