/**
 * Every public method of `@dust-tt/client`'s `DustAPI` and its sub-APIs (`agents`,
 * `conversations`, `files`) is called by a named test (issue 14, deliverable 4). The list
 * below maps each method to the test that calls it, or to "pending: <reason>" while the route
 * is not served yet. This test fails when the installed SDK has a method the list does not
 * name (a new SDK version), when the list names a method the SDK does not have, or when the
 * named test does not exist or does not call the method; it prints the pending ones.
 */
import assert from "node:assert/strict";
import { DustAPI } from "@dust-tt/client";

type Entry = { file: string; test: string } | `pending: ${string}`;

const SDK = "tests/api/dust_sdk_test.ts";
const CONV = "tests/api/dust_sdk_conversations_test.ts";
const FILES = "tests/api/dust_sdk_files_test.ts";
const CLIENT = "tests/api/dust_sdk_client_test.ts";
const WS = "tests/api/dust_sdk_workspace_test.ts";
const NODES = "tests/api/node_search_test.ts";
const VIEWS = "tests/relay/mcp_server_views_test.ts";

const t = (file: string, test: string): Entry => ({ file, test });
const later = (what: string): Entry => `pending: ${what} is not served yet (issue 14, part 2)`;

const CLIENT_LOCAL =
  "[sdk client] workspaceId, setWorkspaceId, apiUrl, getApiKey, baseHeaders and request reach the server";
const RELAY =
  "[sdk client] registerMCPServer, heartbeatMCPServer, getMCPRequestsConnectionDetails and postMCPResults, one call at a time";
const WAITS =
  "[sdk client] waitForAgentMessage and streamAgentMessageEvents follow a real agent run";
const HIGH =
  "[sdk client] the high-level agents (sendMessage, streamMessage) and conversations (create, get, list) APIs";
const DOWNLOAD =
  "[sdk client] downloadFile and files.download: the SDK accepts only a redirect to storage.googleapis.com";
const DIRECTORY =
  "[sdk] getActiveMemberEmailsInWorkspace, getWorkspaceVerifiedDomains, getWorkspaceFeatureFlags: admins and API keys, in Dust's shapes";
const APPS =
  "[sdk] exportApps, checkApps, runApp and runAppStreamed say this server has no Dust Apps";
const CREATE =
  "[sdk conversations] createConversation, getConversation, getConversations and markAsRead parse";
const UPLOAD = "[sdk/files] uploadFile into a conversation, getFileContent, deleteFile";

/** Every public SDK method → the test that calls it. */
const COVERAGE: Record<string, Entry> = {
  workspaceId: t(CLIENT, CLIENT_LOCAL),
  setWorkspaceId: t(CLIENT, CLIENT_LOCAL),
  apiUrl: t(CLIENT, CLIENT_LOCAL),
  getApiKey: t(CLIENT, CLIENT_LOCAL),
  baseHeaders: t(CLIENT, CLIENT_LOCAL),
  request: t(CLIENT, CLIENT_LOCAL),
  me: t(SDK, "[sdk] me() parses and names the user and their workspace"),
  runApp: t(WS, APPS),
  runAppStreamed: t(WS, APPS),
  getDataSources: t(
    FILES,
    "[sdk/data_sources] getDataSources parses and lists only readable data sources",
  ),
  getAgentConfigurations: t(
    SDK,
    "[sdk] getAgentConfigurations() parses for users (list) and API keys (all)",
  ),
  parseForMentions: later("POST assistant/mentions/parse"),
  getMentionsSuggestions: later("GET assistant/mentions/suggestions"),
  postContentFragment: t(CONV, "[sdk conversations] postUserMessage and postContentFragment parse"),
  createConversation: t(CONV, CREATE),
  postUserMessage: t(CONV, "[sdk conversations] postUserMessage and postContentFragment parse"),
  postConversationTools: later("POST assistant/conversations/{cId}/tools"),
  waitForAgentMessage: t(CLIENT, WAITS),
  streamAgentAnswerEvents: t(
    CONV,
    "[sdk conversations] streamAgentAnswerEvents yields tokens and ends on agent_message_success",
  ),
  streamConversationEvents: t(
    CONV,
    "[sdk conversations] streamConversationEvents yields user_message_new and agent_message_new",
  ),
  streamAgentMessageEvents: t(CLIENT, WAITS),
  cancelMessageGeneration: t(CONV, "[sdk conversations] cancelMessageGeneration parses"),
  markAsRead: t(CONV, CREATE),
  getConversations: t(CONV, CREATE),
  getConversation: t(CONV, CREATE),
  getConversationFeedback: later("GET assistant/conversations/{cId}/feedbacks"),
  getSpaceConversationsForDataSource: later("GET spaces/{spaceId}/conversations"),
  getSpaceConversationIds: later("GET spaces/{spaceId}/conversation_ids"),
  getSpaceMetadata: t(
    SDK,
    "[sdk] getSpaceMetadata() parses a Pod's metadata and null for other spaces",
  ),
  getSpaceProjectFiles: later("GET spaces/{spaceId}/project_files"),
  postFeedback: later("POST …/messages/{mId}/feedbacks"),
  deleteFeedback: later("DELETE …/messages/{mId}/feedbacks"),
  tokenize: t(
    WS,
    "[sdk] tokenize cuts text with cl100k_base for a readable data source; others are data_source_not_found",
  ),
  upsertFolder: later("POST data_sources/{dsId}/folders/{folderId}"),
  deleteFolder: later("DELETE data_sources/{dsId}/folders/{folderId}"),
  downloadFile: t(CLIENT, DOWNLOAD),
  getFileContent: t(FILES, UPLOAD),
  uploadFile: t(FILES, UPLOAD),
  deleteFile: t(FILES, UPLOAD),
  getActiveMemberEmailsInWorkspace: t(WS, DIRECTORY),
  exists: t(SDK, "[sdk] exists() is Ok(true) for a member and an API key; Dust's errors otherwise"),
  getWorkspaceVerifiedDomains: t(WS, DIRECTORY),
  getWorkspaceFeatureFlags: t(WS, DIRECTORY),
  searchDataSourceViews: later("GET data_source_views/search"),
  patchDataSourceView: later("PATCH spaces/{spaceId}/data_source_views/{dsvId}"),
  exportApps: t(WS, APPS),
  checkApps: t(WS, APPS),
  getSpaces: t(SDK, "[sdk] getSpaces() parses, with and without kinds"),
  getMCPServerViews: t(
    VIEWS,
    "[relay] mcp_server_views lists the internal search and files views of the global space with includeAuto",
  ),
  searchNodes: t(
    NODES,
    "[sdk] searchNodes() parses: title matches in readable spaces only, titles starting with the query first",
  ),
  searchUnified: t(
    NODES,
    "[sdk] searchUnified() streams Dust's knowledgeResults frame; the cursor pages; JSON search is unchanged",
  ),
  retryMessage: later("POST …/messages/{mId}/retry"),
  getBlockedActions: later("GET …/actions/blocked (tool approval)"),
  validateAction: later("POST …/messages/{mId}/validate-action (tool approval)"),
  answerUserQuestion: later("POST …/messages/{mId}/answer-question (tool approval)"),
  registerMCPServer: t(CLIENT, RELAY),
  heartbeatMCPServer: t(CLIENT, RELAY),
  postMCPResults: t(CLIENT, RELAY),
  getMCPRequestsConnectionDetails: t(CLIENT, RELAY),
  "agents.sendMessage": t(CLIENT, HIGH),
  "agents.streamMessage": t(CLIENT, HIGH),
  "conversations.create": t(CLIENT, HIGH),
  "conversations.get": t(CLIENT, HIGH),
  "conversations.list": t(CLIENT, HIGH),
  "files.upload": t(
    FILES,
    "[sdk/files] the high-level files API uploads and deletes with an API key",
  ),
  "files.delete": t(
    FILES,
    "[sdk/files] the high-level files API uploads and deletes with an API key",
  ),
  "files.download": t(CLIENT, DOWNLOAD),
};

/** Public methods on an object's prototype: functions, not accessors, not `_private` ones. */
function publicMethods(o: object, prefix = ""): string[] {
  const proto = Object.getPrototypeOf(o);
  return Object.getOwnPropertyNames(proto).filter((name) => {
    const d = Object.getOwnPropertyDescriptor(proto, name)!;
    return name !== "constructor" && !name.startsWith("_") && typeof d.value === "function";
  }).map((name) => `${prefix}${name}`);
}

/** The SDK's public methods, read from the installed package. */
function sdkMethods(): string[] {
  const quiet = { error() {}, info() {}, trace() {}, warn() {} };
  const api = new DustAPI({ url: "http://127.0.0.1:9" }, { apiKey: "k", workspaceId: "w" }, quiet);
  return [
    ...publicMethods(api),
    ...publicMethods(api.agents, "agents."),
    ...publicMethods(api.conversations, "conversations."),
    ...publicMethods(api.files, "files."),
  ];
}

/** The body of a named test in a file (from its `Deno.test(` to the next one). */
function testBody(source: string, name: string): string | null {
  const start = source.indexOf(`Deno.test(${JSON.stringify(name)}`);
  if (start < 0) return null;
  const next = source.indexOf("Deno.test(", start + 1);
  return source.slice(start, next < 0 ? undefined : next);
}

Deno.test("[sdk coverage] every public method of DustAPI and its sub-APIs is called by a named test", async () => {
  const methods = sdkMethods();
  assert.ok(methods.length >= 60, `only ${methods.length} methods found in the SDK`);
  const unlisted = methods.filter((m) => !(m in COVERAGE));
  assert.deepEqual(unlisted, [], "SDK methods that no test calls (add a test, then list it)");
  const stale = Object.keys(COVERAGE).filter((m) => !methods.includes(m));
  assert.deepEqual(stale, [], "listed methods the SDK does not have");
  const root = new URL("../../", import.meta.url);
  const sources = new Map<string, string>();
  const problems: string[] = [];
  for (const [method, entry] of Object.entries(COVERAGE)) {
    if (typeof entry === "string") continue;
    if (!sources.has(entry.file)) {
      sources.set(entry.file, await Deno.readTextFile(new URL(entry.file, root)));
    }
    const body = testBody(sources.get(entry.file)!, entry.test);
    const name = method.split(".").pop()!;
    const call = method.includes(".") ? `${method.split(".")[0]}.${name}(` : `.${name}(`;
    if (body === null) problems.push(`${method}: no test "${entry.test}" in ${entry.file}`);
    else if (!body.includes(call)) problems.push(`${method}: "${entry.test}" never calls ${call}`);
  }
  assert.deepEqual(problems, []);
  const pending = Object.entries(COVERAGE).filter(([, e]) => typeof e === "string");
  const served = methods.length - pending.length;
  console.log(
    `SDK methods: ${methods.length}; called by a test: ${served}; pending: ${pending.length}`,
  );
  for (const [method, reason] of pending) console.log(`  ${method}: ${reason}`);
});
