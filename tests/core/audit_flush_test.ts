/**
 * The audit log's batched writes (src/core/audit.ts): a flush resolves only once every entry
 * buffered before it is committed, also the ones a flush already under way is writing. On
 * PostgreSQL a reader's query does not wait for another connection's transaction, so a reader
 * that flushed while a periodic prune was flushing read without those entries.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { flushAuditLog, recordToolCall } from "../../src/core/audit.ts";

Deno.test("[audit] a flush waits for the flush already writing: a read after it sees every entry", async () => {
  await using s = await startTestServer();
  const alice = await createUserWithToken(s, { email: "alice@example.com", role: "admin" });
  await s.deps.cluster.idle(); // the start's own prune is over
  const db = s.deps.db;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 20; i++) {
      await recordToolCall(db, {
        at: Date.now(),
        workspaceId: alice.workspace.id,
        userId: alice.user.id,
        credentialKind: "mcp_token",
        credentialId: "mtk_test",
        clientId: "c",
        tool: "identity",
        arguments: { round, i },
        outcome: "success",
        error: null,
        latencyMs: 1,
        bytesReturned: 10,
        requestId: null,
      });
    }
    const first = flushAuditLog(db); // another caller's flush (a prune), under way
    await flushAuditLog(db); // the reader's
    const n = await db.get<{ n: number }>("SELECT count(*) AS n FROM audit_log");
    assert.equal(Number(n?.n), 20 * (round + 1), `round ${round}`);
    await first;
  }
});
