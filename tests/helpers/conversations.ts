/**
 * Helpers for conversation tests: actors built from fixtures, Pods made directly in the
 * database, a valid message body, and an SSE reader that stops on a condition or a deadline
 * and always cancels the body.
 */
import type { Role, UserActor } from "../../src/auth/actor.ts";
import { toUserRef } from "../../src/core/users.ts";
import { toWorkspaceRef } from "../../src/core/workspaces.ts";
import type { ServerHandle } from "../../src/server.ts";
import type { UserWithToken } from "./fixtures.ts";
import { newResourceId } from "../../src/util/ids.ts";
import {
  AGENT_MESSAGE_CREATED_CHANNEL,
  type AgentMessageCreated,
} from "../../src/core/agent_messages.ts";

/** The actor a fixture user's token resolves to. */
export function userActor(u: UserWithToken, role: Role = u.role): UserActor {
  return {
    kind: "user",
    user: toUserRef(u.user),
    workspace: toWorkspaceRef(u.workspace),
    role,
    scopes: new Set(["read", "write"]),
    credential: { kind: "personal_token", id: "pat_test" },
  };
}

/** A Pod (space of kind `project`) whose members are `members`; returns its sId. */
export async function createPodFixture(
  server: Pick<ServerHandle, "deps">,
  workspaceId: number,
  name: string,
  members: UserWithToken[],
): Promise<string> {
  const db = server.deps.db;
  const t = Date.now();
  const sId = newResourceId("vlt");
  const { id } = await db.get(
    `INSERT INTO spaces (s_id, workspace_id, name, kind, is_restricted, created_at, updated_at)
     VALUES (?, ?, ?, 'project', 1, ?, ?) RETURNING id`,
    sId,
    workspaceId,
    name,
    t,
    t,
  ) as { id: number };
  for (const m of members) {
    await db.run(
      "INSERT INTO space_members (space_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)",
      id,
      m.user.id,
      t,
    );
  }
  return sId;
}

/** A message body Dust's API accepts. */
export function messageBody(content: string, mentions: string[] = ["dust"]) {
  return {
    content,
    mentions: mentions.map((configurationId) => ({ configurationId })),
    context: { username: "alice", timezone: "Europe/Paris", fullName: "Alice A", origin: "api" },
  };
}

/** One parsed SSE frame. */
export interface SseFrame {
  event?: string;
  data?: string;
  comment?: string;
}

/** Parse SSE text into frames (blank-line separated). */
export function parseSse(text: string): SseFrame[] {
  return text.split("\n\n").filter((b) => b.length > 0).map((block) => {
    const f: SseFrame = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) f.comment = line.slice(1).trim();
      else if (line.startsWith("event: ")) f.event = line.slice(7);
      else if (line.startsWith("data: ")) f.data = (f.data ? f.data + "\n" : "") + line.slice(6);
    }
    return f;
  });
}

/** The `{eventId, data}` payloads of a frame list (handshake, comments and `done` skipped). */
// deno-lint-ignore no-explicit-any
export function eventsOf(frames: SseFrame[]): { eventId: string; data: any }[] {
  return frames.filter((f) => f.data && f.data !== "done" && f.event === undefined)
    .map((f) => JSON.parse(f.data!));
}

/**
 * Open an SSE URL and read until `until(text)` is true, the stream ends, or `timeoutMs`
 * passes. Returns the text read and whether the server ended the stream.
 */
export async function readSse(
  url: string,
  token: string,
  until: (text: string) => boolean,
  timeoutMs = 5000,
): Promise<{ status: number; contentType: string | null; text: string; ended: boolean }> {
  const res = await fetch(url, {
    headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
  });
  if (!res.body) return { status: res.status, contentType: null, text: "", ended: true };
  if (!res.ok) {
    return { status: res.status, contentType: null, text: await res.text(), ended: true };
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let ended = false;
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(text) && Date.now() < deadline) {
      let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
      const timeout = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()));
      });
      const r = await Promise.race([reader.read(), timeout]);
      clearTimeout(timer);
      if (r === "timeout") break;
      if (r.done) {
        ended = true;
        break;
      }
      text += r.value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { status: res.status, contentType: res.headers.get("content-type"), text, ended };
}

/**
 * Keep the server's agent runner out of a conversations test: announcements of created agent
 * messages go to `listener` (a scripted stand-in, or nobody) instead of the runner, so agent
 * messages stay `created` until the test moves them. The agents area tests real runs.
 */
export function holdAgentRuns(
  server: Pick<ServerHandle, "deps">,
  listener: (m: AgentMessageCreated) => void = () => {},
): void {
  const bus = server.deps.events;
  const publishLocal = bus.publishLocal.bind(bus);
  bus.publishLocal = (channel, payload) => {
    if (channel === AGENT_MESSAGE_CREATED_CHANNEL) listener(payload as AgentMessageCreated);
    else publishLocal(channel, payload);
  };
}
