/**
 * Workspace B's ids smuggled into workspace A's writes: content fragments naming B's file or
 * document, mentions of B's agent and user, B's relay server in the message context, tasks
 * assigned to B's user or linked to B's conversation, a conversation in B's Pod, a file scoped
 * to B's conversation, files tools pointed at B's scopes. Every write and every read-back of
 * A's own objects afterwards (conversation, events, tasks, files, search) is checked: B's
 * marker never comes back to A. (The reads search for words both workspaces' content shares,
 * never for the marker itself, so a leak cannot hide behind an echo of the query.)
 */
import fc from "fast-check";
import { type FuzzWorld, startFuzzWorld } from "../helpers/fuzz_world.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";

const MCP_HEADERS = {
  "Content-Type": "application/json",
  Accept: "application/json, text/event-stream",
  "MCP-Protocol-Version": "2025-06-18",
};

/** Writes by A that carry one of B's references. */
function smuggledWrites(world: FuzzWorld): FuzzRequest[] {
  const a = world.a.ids;
  const b = world.b.ids;
  const w = `/api/v1/w/${a.wId}`;
  const context = { username: "a", timezone: "UTC", clientSideMCPServerIds: [b.serverId] };
  const json = (path: string, body: unknown, method = "POST"): FuzzRequest => ({
    method,
    path,
    headers: { Authorization: `Bearer ${world.a.token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
    as: world.a,
  });
  const tool = (name: string, args: Record<string, unknown>): FuzzRequest => ({
    method: "POST",
    path: "/mcp",
    headers: { ...MCP_HEADERS, Authorization: `Bearer ${world.a.mcpToken}` },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
    as: world.a,
  });
  const conv = `${w}/assistant/conversations/${a.cId}`;
  return [
    json(`${conv}/content_fragments`, { title: "f", fileId: b.fileId }),
    json(`${conv}/content_fragments`, {
      title: "f",
      nodeId: b.documentId,
      nodeDataSourceViewId: b.dsId,
    }),
    json(`${conv}/content_fragments`, {
      title: "f",
      fileId: b.podFileId,
      contentType: "text/plain",
    }),
    json(`${conv}/messages`, {
      content: "hi",
      mentions: [{ configurationId: b.agentId }],
      context,
    }),
    json(`${conv}/messages`, {
      content: "hi",
      mentions: [{ type: "user", userId: b.userId }],
      context,
    }),
    json(`${w}/assistant/conversations`, { title: "x", spaceId: b.podId }),
    json(`${w}/assistant/conversations`, {
      title: "x",
      contentFragments: [{ title: "f", fileId: b.fileId }],
      message: { content: "hi", mentions: [], context },
    }),
    json(`${w}/spaces/${a.podId}/tasks`, { text: "t", assigneeId: b.userId }),
    json(`${w}/spaces/${a.podId}/tasks`, { text: "t", conversationId: b.cId }),
    json(`${w}/spaces/${a.podId}/tasks/${a.taskId}`, { conversationId: b.cId }, "PATCH"),
    json(`${w}/spaces/${a.podId}/members`, { userId: b.userId }),
    json(`${w}/files`, {
      contentType: "text/plain",
      fileName: "x.txt",
      fileSize: 1,
      useCase: "conversation",
      useCaseMetadata: { conversationId: b.cId },
    }),
    json(`${w}/spaces/${a.spaceId[0]}/data_sources/${a.dsId}/documents/${b.documentId}`, {
      text: "copy",
      parents: [b.documentId],
    }),
    json(`${w}/mcp/results`, {
      serverId: b.serverId,
      result: { jsonrpc: "2.0", id: 1, result: {} },
    }),
    json(`${w}/mcp/heartbeat`, { serverId: b.serverId }),
    json(`${w}/mcp/deregister`, { serverId: b.serverId }),
    tool("create_conversation", { title: "x", podId: b.podId, message: "hi" }),
    tool("create_conversation_message", { conversationId: b.cId, message: "hi", agentName: null }),
    tool("mark_conversation_read", { conversationId: b.cId, read: true }),
    tool("files_create", { scope: { type: "pod", pod_id: b.podId }, path: "x.txt", content: "x" }),
    tool("files_create", {
      scope: { type: "conversation", conversation_id: a.cId },
      path: `../conversation-${b.cId}/notes-b.txt`,
      content: "x",
    }),
  ];
}

/** Reads of A's own objects (and searches) that would surface anything B's writes let in. */
function readsOfA(world: FuzzWorld): FuzzRequest[] {
  const a = world.a.ids;
  const w = `/api/v1/w/${a.wId}`;
  const get = (path: string): FuzzRequest => ({
    method: "GET",
    path,
    headers: { Authorization: `Bearer ${world.a.token}` },
    as: world.a,
    sseIdleMs: 200,
  });
  const tool = (name: string, args: Record<string, unknown>): FuzzRequest => ({
    method: "POST",
    path: "/mcp",
    headers: { ...MCP_HEADERS, Authorization: `Bearer ${world.a.mcpToken}` },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
    as: world.a,
  });
  return [
    get(`${w}/assistant/conversations/${a.cId}`),
    get(`${w}/assistant/conversations/${a.cId}/events`),
    get(`${w}/assistant/conversations`),
    get(`${w}/spaces/${a.podId}/tasks`),
    get(`${w}/spaces/${a.podId}/members`),
    get(`${w}/search?query=alpha`),
    get(`${w}/search?query=notes`),
    get(`${w}/spaces/${a.spaceId[0]}/data_sources/${a.dsId}/documents`),
    get(`${w}/mcp/requests?serverId=${encodeURIComponent(a.serverId)}&lastEventId=0`),
    tool("get_conversation_messages", { conversationId: a.cId }),
    tool("list_conversations", {}),
    tool("search", { query: "alpha beta" }),
    tool("files_list", { scope: { type: "conversation", conversation_id: a.cId } }),
    tool("files_grep", { scope: { type: "pod", pod_id: a.podId }, pattern: "file line" }),
    tool("get_pod_tasks", { podId: a.podId, statusFilter: "all" }),
  ];
}

Deno.test("[fuzz/cross] B's ids smuggled into A's writes never bring B's data back to A", async () => {
  await using world = await startFuzzWorld();
  const writes = smuggledWrites(world);
  const reads = readsOfA(world);
  const arb = fc.tuple(
    fc.shuffledSubarray(writes, { minLength: 1, maxLength: 4 }),
    fc.shuffledSubarray(reads, { minLength: 3, maxLength: 6 }),
  );
  await checkProperty(world, "smuggled references", arb, async ([ws, rs]) => {
    for (const req of [...ws, ...rs]) {
      const surface = req.path === "/mcp" ? "mcp" : "rest";
      checkResponse(world, req, await send(world, req), surface);
    }
  }, 25);
  // And every write, then every read, at least once.
  for (const req of [...writes, ...reads]) {
    const surface = req.path === "/mcp" ? "mcp" : "rest";
    checkResponse(world, req, await send(world, req), surface);
  }
});
