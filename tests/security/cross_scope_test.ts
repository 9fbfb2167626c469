/**
 * A member acting on their own resources must not pull in what they cannot read: another
 * user's conversation file or a Pod file attached to their own conversation, another user's
 * client-side MCP server named in their message, a file path of another conversation or Pod
 * reached through their own file-system scope (also with `..`). Each attempt is answered like
 * the same attempt with a fabricated id, and workspace A's rows stay as they were.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson } from "../helpers/fixtures.ts";
import { messageBody } from "../helpers/conversations.ts";
import { buildSecurityWorld, digestWorkspace, PRIVATE_MARKERS } from "../helpers/security_world.ts";
import { fabricate } from "../helpers/security_probe.ts";
import { rawMcp, rpcOf, TOOLS_CALL } from "../mcp/helpers.ts";

Deno.test("[security] cross-scope: a member's own conversation cannot attach others' files, name others' relay servers or mention others' private agents", async () => {
  await using s = await startTestServer();
  const w = await buildSecurityWorld(s);
  const base = `/api/v1/w/${w.alice.workspace.sId}/assistant/conversations`;
  const mine = await apiJson(s, w.bob.token, base, {
    method: "POST",
    body: { title: "bob's own", message: messageBody("hello", []) },
  });
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  const own = `${base}/${mine.body.conversation.sId}`;
  const before = await digestWorkspace(s, w.alice.workspace.id);
  const post = (path: string, body: unknown) =>
    apiJson(s, w.bob.token, path, { method: "POST", body });
  const same = async (label: string, path: string, body: (id: string) => unknown, id: string) => {
    const real = await post(path, body(id));
    const fake = await post(path, body(fabricate(id)));
    assert.ok(real.status >= 400, `${label}: ${real.status} ${JSON.stringify(real.body)}`);
    assert.deepEqual(
      [real.status, real.body?.error?.type],
      [fake.status, fake.body?.error?.type],
      label,
    );
    const text = JSON.stringify(real.body).split(id).join("");
    for (const m of PRIVATE_MARKERS) assert.ok(!text.includes(m), `${label} leaks ${m}`);
  };
  for (const fileId of [w.convFile, w.podFile]) {
    await same("content fragment", `${own}/content_fragments`, (id) => ({
      title: "stolen",
      fileId: id,
    }), fileId);
  }
  const serverId = w.ids.serverId[0];
  const withServer = (id: string) => ({
    ...messageBody("use alice's tools"),
    context: { ...messageBody("x").context, clientSideMCPServerIds: [id] },
  });
  await same("message naming alice's relay server", `${own}/messages`, withServer, serverId);
  await same("conversation naming alice's relay server", base, (id) => ({
    title: "x",
    message: withServer(id),
  }), serverId);
  const privateAgent = w.ids.sId[0];
  await same("message mentioning alice's private agent", `${own}/messages`, (id) => ({
    ...messageBody("run it", [id]),
  }), privateAgent);
  await same("conversation mentioning alice's private agent", base, (id) => ({
    title: "x",
    message: messageBody("run it", [id]),
  }), privateAgent);
  assert.equal(await digestWorkspace(s, w.alice.workspace.id), before, "workspace A changed");
  const mcp = (agentName: string) =>
    rawMcp(
      s,
      TOOLS_CALL("create_conversation_message", {
        conversationId: mine.body.conversation.sId,
        message: "run it",
        agentName,
      }),
      { Authorization: `Bearer ${w.bob.mcpToken}` },
    );
  const real = rpcOf((await mcp("owlprivate_agent")).text).result as { isError?: boolean };
  const fake = rpcOf((await mcp("owlprivatx_agent")).text).result as { isError?: boolean };
  assert.equal(real.isError, true, "MCP: alice's private agent cannot be mentioned by bob");
  assert.equal(fake.isError, true);
  const shared = rpcOf((await mcp("quokka_agent")).text).result as { isError?: boolean };
  assert.notEqual(shared.isError, true, "control: a workspace agent can be mentioned");
});

Deno.test("[security] cross-scope: file tools confine paths to the scope named, dot segments included", async () => {
  await using s = await startTestServer();
  const w = await buildSecurityWorld(s);
  const auth = { Authorization: `Bearer ${w.bob.mcpToken}` };
  const created = await rawMcp(
    s,
    TOOLS_CALL("create_conversation", { title: "bob's own", agentName: null }),
    auth,
  );
  const ownConv = JSON.parse(
    (rpcOf(created.text).result as { content: { text: string }[] }).content[0].text,
  ).conversationId as string;
  const scope = { type: "conversation", conversation_id: ownConv };
  const own = `conversation-${ownConv}`;
  const targets = [
    `conversation-${w.conv}/owlprivate.txt`,
    `pod-${w.pod}/lynxpod.txt`,
    `${own}/../conversation-${w.conv}/owlprivate.txt`,
    `${own}/../pod-${w.pod}/lynxpod.txt`,
    `${own}/%2e%2e/conversation-${w.conv}/owlprivate.txt`,
    `/${own}/../../conversation-${w.conv}/owlprivate.txt`,
  ];
  const others = async () =>
    JSON.stringify(await s.deps.db.all("SELECT * FROM files WHERE user_id != ?", w.bob.user.id));
  const before = await others();
  for (const path of targets) {
    for (
      const [tool, args] of [
        ["files_cat", { scope, path }],
        ["files_grep", { scope, path, pattern: "." }],
        ["files_create", { scope, path, content: "overwrite", content_type: "text/plain" }],
      ] as const
    ) {
      const r = rpcOf((await rawMcp(s, TOOLS_CALL(tool, args), auth)).text) as {
        result?: { content: { type: string; uri?: string }[] };
      };
      // A resource link names the file the call touched, from the path given: it must point
      // into bob's own scope; the rest of the answer must not hold the other scopes' data.
      const content = r.result?.content ?? [];
      for (const l of content.filter((c) => c.type === "resource_link")) {
        assert.ok(l.uri!.includes(`/files/${own}/`), `${tool} ${path} links ${l.uri}`);
      }
      if (r.result) r.result.content = content.filter((c) => c.type !== "resource_link");
      const text = JSON.stringify(r).split(path).join("");
      for (const m of PRIVATE_MARKERS) assert.ok(!text.includes(m), `${tool} ${path} leaks ${m}`);
    }
  }
  assert.equal(await others(), before, "another user's file changed");
  // Whatever bob created (a literal `%2e%2e` is just a name) stayed in his own scope.
  const scopes = await s.deps.db.all(
    "SELECT DISTINCT scope_s_id FROM files WHERE user_id = ?",
    w.bob.user.id,
  ) as { scope_s_id: string }[];
  assert.deepEqual(scopes.map((r) => r.scope_s_id).filter((x) => x !== ownConv), []);
  // Control: the same tools work inside the scope.
  const fine = { scope, path: `${own}/fine.txt`, content: "fine", content_type: "text/plain" };
  const made = rpcOf((await rawMcp(s, TOOLS_CALL("files_create", fine), auth)).text);
  assert.equal((made.result as { isError?: boolean }).isError, undefined, JSON.stringify(made));
  const cat = rpcOf((await rawMcp(s, TOOLS_CALL("files_cat", fine), auth)).text);
  assert.match(JSON.stringify(cat), /fine/);
});

Deno.test("[security] cross-scope: a member cannot add themselves to a restricted space or Pod", async () => {
  await using s = await startTestServer();
  const w = await buildSecurityWorld(s);
  const base = `/api/v1/w/${w.alice.workspace.sId}/spaces`;
  const before = await digestWorkspace(s, w.alice.workspace.id);
  for (const space of [w.vault, w.pod]) {
    for (const role of [undefined, "member", "editor"]) {
      const join = (id: string) =>
        apiJson(s, w.bob.token, `${base}/${id}/members`, {
          method: "POST",
          body: { userId: w.bob.user.sId, role },
        });
      const real = await join(space);
      const fake = await join(fabricate(space));
      assert.equal(real.status, 404, JSON.stringify(real.body));
      assert.deepEqual([real.status, real.body.error.type], [fake.status, fake.body.error.type]);
    }
  }
  assert.equal(await digestWorkspace(s, w.alice.workspace.id), before, "bob joined something");
  const seen = await apiJson(s, w.bob.token, `${base}?kinds=global,regular,project`);
  assert.equal(seen.status, 200, JSON.stringify(seen.body));
  assert.ok(JSON.stringify(seen.body).includes(w.globalA), "control: bob lists the global space");
  assert.ok(!JSON.stringify(seen.body).includes("zebrasecret"));
  assert.ok(!JSON.stringify(seen.body).includes("lynxpod"));
});
