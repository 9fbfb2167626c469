/**
 * Every workspace route of the REST API, called with a workspace API key and with a member's
 * user token (a personal access token; OAuth tokens resolve to the same user actor, see
 * auth_test.ts). An API key acts as the workspace (Dust): it reads and writes workspace
 * content, gets 401 `user_not_found` where a user is needed, and 403 / 404 where only a
 * workspace admin or a Pod member may go. One table, so a new route must take a side.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createApp } from "../../src/app.ts";
import { apiJson, bearer, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import {
  actorOf,
  createFolder,
  createPod,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import { messageBody } from "../helpers/conversations.ts";

type Expect = number | [number, string];

/** Create a conversation with the caller, upload a file into it; ids for the table. */
async function seedFor(
  server: Awaited<ReturnType<typeof startTestServer>>,
  token: string,
  w: string,
) {
  const conv = await apiJson(server, token, `${w}/assistant/conversations`, {
    method: "POST",
    body: { title: "t", visibility: "unlisted", message: messageBody("hello") },
  });
  assert.equal(conv.status, 200, JSON.stringify(conv.body));
  const cId = conv.body.conversation.sId as string;
  const agentMessage = conv.body.conversation.content.flat().find((m: { type: string }) =>
    m.type === "agent_message"
  );
  const f = await apiJson(server, token, `${w}/files`, {
    method: "POST",
    body: {
      contentType: "text/plain",
      fileName: "a.txt",
      fileSize: 2,
      useCase: "conversation",
      useCaseMetadata: { conversationId: cId },
    },
  });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  const form = new FormData();
  form.append("file", new File(["hi"], "a.txt", { type: "text/plain" }));
  const up = await fetch(f.body.file.uploadUrl, {
    method: "POST",
    headers: bearer(token),
    body: form,
  });
  await up.body?.cancel();
  assert.equal(up.status, 200);
  return { cId, mId: agentMessage.sId as string, fId: f.body.file.sId as string };
}

/** Open an event stream, check it is one, and cancel it. */
async function streamStatus(url: string, token: string): Promise<number> {
  const res = await fetch(url, { headers: { ...bearer(token), Accept: "text/event-stream" } });
  if (res.ok) assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  await res.body?.cancel();
  return res.status;
}

function check(
  who: string,
  method: string,
  path: string,
  r: { status: number; body: { error?: { type?: string } } | null },
  e: Expect,
) {
  const [status, type] = typeof e === "number" ? [e, undefined] : e;
  const what = `${who} ${method} ${path}: ${JSON.stringify(r.body).slice(0, 200)}`;
  assert.equal(r.status, status, what);
  if (type) assert.equal(r.body?.error?.type, type, what);
}

/**
 * Routes whose key/user behaviour is pinned in their own area's tests rather than here:
 * the relay (tests/relay: user tokens only for registration), the audit log (tests/mcp),
 * group and Pod-membership management (groups_test, spaces_test), task edits (pods_test),
 * fetch (search tests), the event streams (checked below the table). File creation and upload
 * run for both callers in `seedFor`.
 */
const COVERED_ELSEWHERE = new Set([
  "POST /api/v1/w/:wId/mcp/register",
  "POST /api/v1/w/:wId/mcp/heartbeat",
  "POST /api/v1/w/:wId/mcp/deregister",
  "GET /api/v1/w/:wId/mcp/requests",
  "POST /api/v1/w/:wId/mcp/results",
  "GET /api/v1/w/:wId/audit",
  "GET /api/v1/w/:wId/audit/settings",
  "PATCH /api/v1/w/:wId/audit/settings",
  "POST /api/v1/w/:wId/groups",
  "POST /api/v1/w/:wId/spaces/:spaceId/groups",
  "POST /api/v1/w/:wId/spaces/:spaceId/members",
  "DELETE /api/v1/w/:wId/spaces/:spaceId/members/:userId",
  "PATCH /api/v1/w/:wId/spaces/:spaceId/tasks/:taskId",
  "DELETE /api/v1/w/:wId/spaces/:spaceId/tasks/:taskId",
  "GET /api/v1/w/:wId/fetch",
  "POST /api/v1/w/:wId/files",
  "POST /api/v1/w/:wId/files/:fileId",
  "GET /api/v1/w/:wId/assistant/conversations/:cId/events",
  "GET /api/v1/w/:wId/assistant/conversations/:cId/messages/:mId/events",
]);

/** Every workspace route the app serves is in the table or named in COVERED_ELSEWHERE. */
function assertEveryRouteTakesASide(
  server: Awaited<ReturnType<typeof startTestServer>>,
  called: string[],
) {
  const routes = new Set(
    createApp(server.deps).routes
      .filter((r) => r.method !== "ALL" && r.path.startsWith("/api/v1/w/:wId/"))
      .map((r) => `${r.method} ${r.path}`),
  );
  const missing = [...routes].filter((route) => {
    if (COVERED_ELSEWHERE.has(route)) return false;
    const [method, path] = route.split(" ");
    const pattern = new RegExp(`^${method} ${path.replace(/:[A-Za-z]+/g, "[^/]+")}$`);
    return !called.some((c) => pattern.test(c));
  });
  assert.deepEqual(missing, [], "routes with no API-key / user expectation");
}

Deno.test("[api/credentials] every workspace route answers an API key as the workspace and a member as a user", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const member = await createUserWithToken(server, {
    email: "member@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const key = await createApiKey(server, admin.workspace);
  const w = `/api/v1/w/${admin.workspace.sId}`;
  const gs = await globalSpaceSId(server, admin.workspace);
  const ds = await createFolder(server, actorOf(admin), gs, "docs");
  const pod = await createPod(server, actorOf(admin), "Pod", [member.user.sId]);
  const docs = `${w}/spaces/${gs}/data_sources/${ds}`;
  const dsView =
    (await server.deps.db.get("SELECT view_s_id FROM data_sources WHERE s_id = ?", ds) as {
      view_s_id: string;
    }).view_s_id;
  await putDocument(
    server,
    actorOf(admin),
    { spaceId: gs, dataSourceId: ds },
    "shared",
    "hello all",
  );
  const toolView = (await server.deps.db.get(
    `SELECT v.s_id FROM mcp_server_views v JOIN spaces s ON s.id = v.space_id
     WHERE s.s_id = ? ORDER BY v.id LIMIT 1`,
    gs,
  ) as { s_id: string }).s_id;
  const folderBody = { timestamp: 1, title: "F", mime_type: "application/vnd.dust.folder" };
  const USER_ONLY: Expect = [401, "user_not_found"];
  const NOT_A_USER: Expect = [401, "not_authenticated"];
  const NO_POD: Expect = [404, "space_not_found"];
  const DS_AUTH: Expect = [403, "data_source_auth_error"];
  // Workspace admins only, or a Pod's editors only (the member is neither).
  const ADMIN_ONLY: Expect = [403, "workspace_auth_error"];
  const NO_APPS: Expect = [404, "app_not_found"];

  for (const [who, token] of [["key", key], ["member", member.token]] as const) {
    const { cId, mId, fId } = await seedFor(server, token, w);
    const isKey = who === "key";
    // [method, path, body, expected for the API key, expected for the member]
    const table: [string, string, unknown, Expect, Expect][] = [
      ["GET", "/api/v1/me", undefined, USER_ONLY, 200],
      ["GET", `${w}/exists`, undefined, 200, 200],
      ["GET", `${w}/assistant/agent_configurations`, undefined, 200, 200],
      ["GET", `${w}/assistant/agent_configurations/dust`, undefined, 200, 200],
      ["GET", `${w}/assistant/agent_configurations/search?q=du`, undefined, 200, 200],
      [
        "POST",
        `${w}/assistant/agent_configurations`,
        { name: "A", description: "d", instructions: "i" },
        USER_ONLY,
        ADMIN_ONLY,
      ],
      ["PATCH", `${w}/assistant/agent_configurations/dust`, { userFavorite: true }, USER_ONLY, 200],
      ["GET", `${w}/assistant/conversations`, undefined, USER_ONLY, 200],
      ["POST", `${w}/assistant/conversations`, { title: "t" }, 200, 200],
      ["GET", `${w}/assistant/conversations/${cId}`, undefined, 200, 200],
      ["PATCH", `${w}/assistant/conversations/${cId}`, { read: true }, USER_ONLY, 200],
      ["POST", `${w}/assistant/conversations/${cId}/messages`, messageBody("again"), 200, 200],
      [
        "POST",
        `${w}/assistant/conversations/${cId}/content_fragments`,
        { title: "c", content: "x", contentType: "text/plain" },
        200,
        200,
      ],
      ["POST", `${w}/assistant/conversations/${cId}/cancel`, { messageIds: [mId] }, 200, 200],
      ["GET", `${w}/files/${fId}?action=view`, undefined, 200, 200],
      ["GET", `${w}/spaces`, undefined, 200, 200],
      ["GET", `${w}/spaces?kinds=project`, undefined, 200, 200],
      ["POST", `${w}/spaces`, { kind: "regular", name: `s-${who}` }, ADMIN_ONLY, ADMIN_ONLY],
      ["GET", `${w}/spaces/${pod}/members`, undefined, [404, "space_not_found"], ADMIN_ONLY],
      ["GET", `${w}/spaces/${gs}/data_sources`, undefined, 200, 200],
      ["POST", `${w}/spaces/${gs}/data_sources`, { name: `d-${who}` }, 200, ADMIN_ONLY],
      ["GET", `${w}/data_sources`, undefined, 200, 200],
      ["GET", `${w}/storage`, undefined, ADMIN_ONLY, ADMIN_ONLY],
      ["GET", `${w}/spaces/${gs}/data_source_views`, undefined, 200, 200],
      ["POST", `${docs}/documents/d-${who}`, { text: "hello world" }, 200, [
        403,
        "data_source_auth_error",
      ]],
      // A key may write (then the JSON body is refused: the route takes multipart); a member not.
      ["POST", `${docs}/upload`, {}, [400, "invalid_request_error"], [
        403,
        "data_source_auth_error",
      ]],
      ["GET", `${docs}/documents/shared`, undefined, 200, 200],
      ["GET", `${docs}/documents`, undefined, 200, 200],
      ["GET", `${docs}/search?query=hello`, undefined, 200, 200],
      ["GET", `${w}/data_sources/${ds}/search?query=hello`, undefined, 200, 200],
      [
        "GET",
        `${w}/spaces/${gs}/data_source_views/${dsView}/search?query=hello`,
        undefined,
        200,
        200,
      ],
      ["GET", `${w}/search?query=hello`, undefined, 200, 200],
      [
        "POST",
        `${w}/search`,
        { query: "shared", viewType: "all", spaceIds: [], includeDataSources: false, limit: 5 },
        200,
        200,
      ],
      ["GET", `${w}/spaces/${pod}/project_metadata`, undefined, [404, "space_not_found"], 200],
      ["PATCH", `${w}/spaces/${pod}/project_metadata`, { description: "d" }, [
        404,
        "space_not_found",
      ], 200],
      ["GET", `${w}/spaces/${pod}/tasks`, undefined, [404, "space_not_found"], 200],
      ["POST", `${w}/spaces/${pod}/tasks`, { text: "t" }, USER_ONLY, 200],
      ["GET", `${w}/spaces/${gs}/mcp_server_views`, undefined, 200, 200],
      ["GET", `${w}/api_keys`, undefined, ADMIN_ONLY, ADMIN_ONLY],
      ["POST", `${w}/api_keys`, { name: "k" }, ADMIN_ONLY, ADMIN_ONLY],
      ["DELETE", `${w}/api_keys/key_unknown`, undefined, ADMIN_ONLY, ADMIN_ONLY],
      ["GET", `${w}/personal_tokens`, undefined, USER_ONLY, 200],
      ["POST", `${w}/personal_tokens`, { name: "script" }, USER_ONLY, 200],
      ["DELETE", `${w}/personal_tokens/pat_unknown`, undefined, USER_ONLY, [404, "key_not_found"]],
      ["GET", `${w}/groups`, undefined, ADMIN_ONLY, ADMIN_ONLY],
      ["DELETE", `${docs}/documents/d-${who}`, undefined, 200, [403, "data_source_auth_error"]],
      ["DELETE", `${w}/files/${fId}`, undefined, 204, 204],
      ["GET", `${w}/members/emails`, undefined, 200, [404, "workspace_not_found"]],
      ["GET", `${w}/verified_domains`, undefined, 200, [404, "workspace_not_found"]],
      ["GET", `${w}/feature_flags`, undefined, 200, [404, "workspace_not_found"]],
      ["POST", `${w}/data_sources/${ds}/tokenize`, { text: "hello" }, 200, 200],
      // Tool approval: the seeded message never asked, so its actions are not found.
      ["GET", `${w}/assistant/conversations/${cId}/actions/blocked`, undefined, 200, 200],
      [
        "POST",
        `${w}/assistant/conversations/${cId}/messages/${mId}/validate-action`,
        { actionId: "act_unknown", approved: "approved" },
        [404, "action_not_found"],
        [404, "action_not_found"],
      ],
      [
        "POST",
        `${w}/assistant/conversations/${cId}/messages/${mId}/answer-question`,
        { actionId: "act_unknown", answer: { selectedOptions: [0] } },
        [404, "action_not_found"],
        [404, "action_not_found"],
      ],
      ["POST", `${w}/assistant/mentions/parse`, { markdown: "@dust hi" }, 200, 200],
      ["GET", `${w}/assistant/mentions/suggestions?query=d`, undefined, 200, 200],
      [
        "GET",
        `${w}/assistant/conversations/${cId}/mentions/suggestions?query=d`,
        undefined,
        200,
        200,
      ],
      [
        "POST",
        `${w}/assistant/conversations/${cId}/tools`,
        { action: "add", mcp_server_view_id: toolView },
        200,
        200,
      ],
      ["GET", `${w}/assistant/conversations/${cId}/feedbacks`, undefined, NOT_A_USER, 200],
      [
        "POST",
        `${w}/assistant/conversations/${cId}/messages/${mId}/feedbacks`,
        { thumbDirection: "up" },
        NOT_A_USER,
        200,
      ],
      [
        "DELETE",
        `${w}/assistant/conversations/${cId}/messages/${mId}/feedbacks`,
        undefined,
        NOT_A_USER,
        200,
      ],
      ["POST", `${w}/assistant/conversations/${cId}/messages/${mId}/retry`, undefined, 200, 200],
      ["GET", `${w}/spaces/${pod}/conversations`, undefined, NO_POD, 200],
      ["GET", `${w}/spaces/${pod}/conversation_ids`, undefined, NO_POD, 200],
      ["GET", `${w}/spaces/${pod}/project_files`, undefined, NO_POD, 200],
      ["GET", `${w}/data_source_views/search`, undefined, 200, 200],
      ["GET", `${w}/spaces/${gs}/data_source_views/${dsView}`, undefined, 200, 200],
      [
        "PATCH",
        `${w}/spaces/${gs}/data_source_views/${dsView}`,
        { parentsIn: ["shared"] },
        200,
        ADMIN_ONLY,
      ],
      ["POST", `${w}/data_sources/${ds}/folders/f1`, folderBody, 200, DS_AUTH],
      ["GET", `${w}/data_sources/${ds}/folders/f1`, undefined, 200, 200],
      ["POST", `${docs}/folders/f2`, folderBody, 200, DS_AUTH],
      ["GET", `${docs}/folders/f2`, undefined, 200, 200],
      ["DELETE", `${w}/data_sources/${ds}/folders/gone`, undefined, 200, DS_AUTH],
      ["DELETE", `${docs}/folders/gone`, undefined, 200, DS_AUTH],
      ["GET", `${w}/spaces/${gs}/apps/export`, undefined, NO_APPS, NO_APPS],
      ["POST", `${w}/spaces/${gs}/apps/check`, { apps: [] }, NO_APPS, NO_APPS],
      ["POST", `${w}/spaces/${gs}/apps/app1/runs`, {}, NO_APPS, NO_APPS],
    ];
    for (const [method, path, body, forKey, forMember] of table) {
      const r = await apiJson(server, token, path, { method, ...(body ? { body } : {}) });
      check(who, method, path, r, isKey ? forKey : forMember);
    }
    if (isKey) {
      await assertEveryRouteTakesASide(
        server,
        table.map(([m, p]) => `${m} ${p.split("?")[0]}`),
      );
    }
    const base = `${server.url}${w}/assistant/conversations/${cId}`;
    assert.equal(await streamStatus(`${base}/events`, token), 200, `${who} conversation events`);
    assert.equal(
      await streamStatus(`${base}/messages/${mId}/events`, token),
      200,
      `${who} message events`,
    );
  }
});
