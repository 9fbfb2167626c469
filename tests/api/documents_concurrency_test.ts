/**
 * Concurrent upserts into one data source, on the engine under test. On PostgreSQL every
 * upsert of a data source updates the same rows (the data source's `updated_at`, the storage
 * counters), so serializable transactions conflict and are retried; a long upsert (a large
 * document) must not lose every retry to short ones and end as a 500 (it did with 10 retries a
 * few milliseconds apart: the durability suite's document writers hit it).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";

Deno.test("[documents] concurrent upserts of small and large documents into one data source all succeed", async () => {
  await using s = await startTestServer();
  const alice = await createUserWithToken(s, { email: "alice@example.com", role: "admin" });
  const key = await createApiKey(s, alice.workspace);
  const w = `/api/v1/w/${alice.workspace.sId}`;
  const spaces = await apiJson(s, key, `${w}/spaces`);
  const global = spaces.body.spaces.find((x: { kind: string }) => x.kind === "global").sId;
  const ds = await apiJson(s, key, `${w}/spaces/${global}/data_sources`, {
    method: "POST",
    body: { name: "Busy" },
  });
  assert.equal(ds.status, 200, JSON.stringify(ds.body));
  const path = `${w}/spaces/${global}/data_sources/${ds.body.data_source.sId}`;
  const failures: string[] = [];
  const writer = async (n: number) => {
    for (let i = 0; i < 12; i++) {
      const r = await apiJson(s, key, `${path}/documents/w${n}-d${i % 4}`, {
        method: "POST",
        body: {
          text: `words of writer ${n} `.repeat(600 * (1 + (i % 6))),
          title: "t",
          tags: ["x"],
        },
      });
      if (r.status !== 200) failures.push(`writer ${n} #${i}: ${r.status}`);
    }
  };
  await Promise.all([0, 1, 2].map(writer));
  assert.deepEqual(failures, []);
});
