import assert from "node:assert/strict";
import { SqliteDb } from "../../src/db/sqlite.ts";
import { Hono } from "hono";
import { startTestServer } from "../helpers/server.ts";
import { resolveConfig } from "../../src/config.ts";
import { shutdownWithin, startServer } from "../../src/server.ts";
import { createLogger } from "../../src/util/log.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { messageBody } from "../helpers/conversations.ts";
import { endOnShutdown, endStreamsOnShutdown } from "../../src/events/end_on_shutdown.ts";

const encoder = new TextEncoder();

/** Resolves to "timeout" after `ms` unless `p` settles first; the timer never leaks. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
  const t = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** An SSE body that sends one event and then stays open until cancelled. */
function neverEndingEvents(onCancel: () => void): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(encoder.encode("event: ping\ndata: {}\n\n"));
    },
    cancel: onCancel,
  });
}

Deno.test("[server] shutdown waits on an open event stream until the shutdown signal ends it", async () => {
  const lifecycle = new AbortController();
  let sourceCancelled = false;
  const app = new Hono();
  app.use("*", endStreamsOnShutdown(lifecycle.signal));
  app.get("/events", () =>
    new Response(neverEndingEvents(() => (sourceCancelled = true)), {
      headers: { "content-type": "text/event-stream" },
    }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/events`);
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.match(new TextDecoder().decode(first.value), /event: ping/);

  const shutdown = server.shutdown();
  assert.equal(await within(shutdown, 200), "timeout", "Deno.serve waits for the open stream");
  lifecycle.abort();
  assert.notEqual(await within(shutdown, 5000), "timeout", "shutdown completes once aborted");
  assert.deepEqual(
    await reader.read(),
    { done: true, value: undefined },
    "the client sees the end",
  );
  assert.ok(sourceCancelled, "the SSE source is cancelled so its cleanup runs");
});

Deno.test("[server] endOnShutdown passes a finite stream through unchanged", async () => {
  const lifecycle = new AbortController();
  const parts = ["a", "b", "c"].map((s) => encoder.encode(s));
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });
  const text = await new Response(endOnShutdown(source, lifecycle.signal)).text();
  assert.equal(text, "abc");
  lifecycle.abort(); // after the end: nothing left to close, nothing throws
});

Deno.test("[server] a stream opened after shutdown began ends at once", async () => {
  const lifecycle = new AbortController();
  lifecycle.abort();
  let cancelled = false;
  const wrapped = endOnShutdown(neverEndingEvents(() => (cancelled = true)), lifecycle.signal);
  assert.equal(await new Response(wrapped).text(), "");
  assert.ok(cancelled);
});

Deno.test("[server] the app ends its event-stream responses when the server stops", async () => {
  const lifecycle = new AbortController();
  const app = new Hono();
  app.use("*", endStreamsOnShutdown(lifecycle.signal));
  app.get("/ndjson", () =>
    new Response(neverEndingEvents(() => {}), {
      headers: { "content-type": "application/x-ndjson" },
    }));
  app.get("/json", (c) => c.json({ ok: true }));
  const res = await app.request("/json");
  assert.deepEqual(await res.json(), { ok: true }, "ordinary responses are untouched");
  const stream = await app.request("/ndjson");
  const reader = stream.body!.getReader();
  await reader.read();
  lifecycle.abort();
  assert.deepEqual(await reader.read(), { done: true, value: undefined });
});

Deno.test("[server] stop() aborts deps.shutdown, closes the database and frees the port", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-stop-" });
  try {
    const server = await startTestServer({ dataDir });
    const res = await fetch(`${server.url}/healthz`);
    await res.body?.cancel();
    assert.equal(res.status, 200);
    await server.stop();
    assert.ok(server.deps.shutdown.aborted);
    // exec, not prepare: prepare() answers cached statements without touching the connection.
    await assert.rejects(async () => await server.deps.db.exec("SELECT 1"), /not open/i);
    await server.stop(); // idempotent
    const freed = Deno.listen({ hostname: "127.0.0.1", port: server.port });
    freed.close();

    await using again = await startTestServer({ dataDir });
    const after = await fetch(`${again.url}/healthz`);
    assert.equal((await after.json()).status, "ok", "the same data directory opens again");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[server] /healthz checks the database: a closed database answers 500", async () => {
  await using server = await startTestServer();
  await server.deps.db.close();
  try {
    const res = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "hz-1" } });
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.equal(body.error.type, "internal_server_error");
    assert.equal(body.error.message, "Internal server error (request id hz-1).");
    const line = server.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "unhandled error");
    assert.ok(line, "the unexpected error is logged");
    assert.equal(line.requestId, "hz-1");
    assert.match(line.stack, /\n\s+at /, "with its stack");
  } finally {
    // So stop() can close it (a PostgreSQL pool is not reopened: stop() closes it twice, a no-op).
    if (server.deps.db instanceof SqliteDb) server.deps.db.conn.open();
  }
});

Deno.test("[server] stop() ends an open conversation event stream instead of hanging", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-stop-" });
  try {
    const server = await startTestServer({ dataDir });
    const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
    const url = `/api/v1/w/${alice.workspace.sId}/assistant/conversations`;
    const created = await apiJson(server, alice.token, url, {
      method: "POST",
      body: { title: "open stream", message: messageBody("hello") },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const res = await fetch(`${server.url}${url}/${created.body.conversation.sId}/events`, {
      headers: { Authorization: `Bearer ${alice.token}` },
    });
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("agent_message_new")) {
      const chunk = await within(reader.read(), 5000);
      assert.ok(chunk !== "timeout" && !chunk.done, "the stream delivers its events");
      text += chunk.value;
    }
    assert.notEqual(await within(server.stop(), 5000), "timeout", "stop() completes");
    let ended = false;
    while (!ended) {
      const chunk = await within(reader.read(), 5000);
      assert.notEqual(chunk, "timeout", "the client sees the stream end");
      ended = chunk !== "timeout" && chunk.done;
    }
    // exec, not prepare: prepare() answers cached statements without touching the connection.
    await assert.rejects(async () => await server.deps.db.exec("SELECT 1"), /not open/i);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[server] a port in use fails startServer and releases what it opened", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-busy-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((busy.addr as Deno.NetAddr).port);
    const config = resolveConfig(
      { port, host: "127.0.0.1", "data-dir": dataDir, "log-level": "error" },
      {},
    );
    await assert.rejects(startServer(config, { logSink: () => {} }), Deno.errors.AddrInUse);
    // The database was closed (SQLite removes the WAL on the last close); the test's leak
    // sanitizers catch any timer or worker left running.
    await assert.rejects(Deno.stat(`${dataDir}/dust-mcp.db-wal`), Deno.errors.NotFound);
  } finally {
    busy.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[server] a response that never ends delays shutdown only for the grace period", async () => {
  const lines: string[] = [];
  const log = createLogger("warn", (l) => lines.push(l));
  let release!: ReadableStreamDefaultController<Uint8Array>;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          release = c;
          c.enqueue(encoder.encode("partial"));
        },
      }),
      { headers: { "content-type": "application/octet-stream" } },
    ));
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  const reader = res.body!.getReader();
  await reader.read();
  const started = performance.now();
  await shutdownWithin(server, 300, log);
  const waited = performance.now() - started;
  assert.ok(waited >= 250 && waited < 3000, `gave up after the grace period (${waited} ms)`);
  assert.match(lines.join("\n"), /shutdown grace period over/);
  release.close(); // let the abandoned response finish so the test leaks nothing
  await reader.cancel();
  await server.finished;
});
