/**
 * Resource subscriptions on 2026-07-28 (`subscriptions/listen`, served by the SDK's listen
 * router over one long-lived SSE response): a client names the resources it watches and gets
 * `notifications/resources/updated` when they change.
 *
 * What can be delivered is a conversation transcript (`dust://w/<wId>/conversations/<cId>`):
 * every message event of a conversation is published on its `conversation:<sId>` channel,
 * which crosses instances with the event bus. So before the SDK sees a listen request, the
 * route narrows its `resourceSubscriptions` to the conversation URIs the caller may read
 * ({@link narrowListen}); the SDK's acknowledgement then names exactly what will be delivered.
 * {@link ResourceUpdateBridge} turns each watched conversation's events into one update per
 * {@link UPDATE_COALESCE_MS} (a streaming answer sends many events a second).
 *
 * The 2025 revisions cannot: this server is stateless and has no standalone stream for them,
 * so they do not declare `resources.subscribe`. No list is announced as changing.
 * @module
 */
import type { ServerNotifier } from "@modelcontextprotocol/server";
import type { Deps } from "../deps.ts";
import { findReadableConversation } from "../core/conversation_views.ts";
import { conversationStream } from "../core/conversation_events.ts";
import { servesToolset } from "./endpoint.ts";
import type { McpCaller } from "./tool_kit.ts";
import { parseResourceUri } from "./resource_uris.ts";

/** Updates of one resource are sent at most this often. */
export const UPDATE_COALESCE_MS = 250;
/** Resources one listen request may watch. */
export const WATCHED_URIS_MAX = 100;

/** A conversation a listen stream watches. */
export interface WatchedConversation {
  uri: string;
  conversationSId: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether a parsed body is one `subscriptions/listen` request. */
export function isListenRequest(body: unknown): body is Record<string, unknown> {
  return isObject(body) && body.method === "subscriptions/listen" && isObject(body.params);
}

/**
 * The listen request with its `resourceSubscriptions` narrowed to the conversations `caller`
 * reads (on an endpoint serving conversations), and those conversations.
 */
export async function narrowListen(
  deps: Deps,
  caller: McpCaller,
  body: Record<string, unknown>,
): Promise<{ body: Record<string, unknown>; watched: WatchedConversation[] }> {
  const params = body.params as Record<string, unknown>;
  const notifications = params.notifications;
  if (!isObject(notifications) || !Array.isArray(notifications.resourceSubscriptions)) {
    return { body, watched: [] };
  }
  const watched: WatchedConversation[] = [];
  const serves = servesToolset(caller.endpoint, "conversations");
  for (const uri of notifications.resourceSubscriptions.slice(0, WATCHED_URIS_MAX)) {
    if (typeof uri !== "string" || !serves) continue;
    const p = parseResourceUri(uri);
    if (p?.kind !== "conversation" || p.workspaceId !== caller.actor.workspace.sId) continue;
    if (!await findReadableConversation(deps, caller.actor, p.conversationId)) continue;
    if (!watched.some((w) => w.uri === uri)) {
      watched.push({ uri, conversationSId: p.conversationId });
    }
  }
  const narrowed = { ...notifications, resourceSubscriptions: watched.map((w) => w.uri) };
  return { body: { ...body, params: { ...params, notifications: narrowed } }, watched };
}

interface Watch {
  count: number;
  unsubscribe: () => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Conversation events → `resource_updated` on the handler's bus, one watch per URI. */
export class ResourceUpdateBridge {
  #watches = new Map<string, Watch>();

  constructor(private readonly deps: Deps, private readonly notify: ServerNotifier) {}

  /** Watch `list` until the returned function is called (idempotent). */
  watch(list: readonly WatchedConversation[]): () => void {
    for (const w of list) this.#add(w);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const w of list) this.#remove(w.uri);
    };
  }

  /** Open watches (for tests). */
  get size(): number {
    return this.#watches.size;
  }

  #add(w: WatchedConversation): void {
    const seen = this.#watches.get(w.uri);
    if (seen) {
      seen.count++;
      return;
    }
    const watch: Watch = { count: 1, unsubscribe: () => {}, timer: undefined };
    watch.unsubscribe = this.deps.events.subscribe(conversationStream(w.conversationSId), () => {
      if (watch.timer !== undefined) return;
      watch.timer = setTimeout(() => {
        watch.timer = undefined;
        this.notify.resourceUpdated(w.uri);
      }, UPDATE_COALESCE_MS);
    });
    this.#watches.set(w.uri, watch);
  }

  #remove(uri: string): void {
    const watch = this.#watches.get(uri);
    if (!watch || --watch.count > 0) return;
    watch.unsubscribe();
    if (watch.timer !== undefined) clearTimeout(watch.timer);
    this.#watches.delete(uri);
  }
}

/** Whether a parsed body is one `notifications/cancelled` naming a request id. */
export function isCancelledNotification(
  body: unknown,
): body is { params: { requestId: string | number } } {
  if (!isObject(body) || body.method !== "notifications/cancelled") return false;
  const p = body.params;
  return isObject(p) && (typeof p.requestId === "string" || typeof p.requestId === "number");
}

/**
 * Open listen streams by caller (credential and client) and request id, so a client's
 * `notifications/cancelled` for its listen request ends that stream.
 */
export class OpenListens {
  #open = new Map<string, AbortController>();

  static #key(caller: McpCaller, id: unknown): string {
    return JSON.stringify([caller.actor.credential.id, caller.clientId, id]);
  }

  /** Track a stream; returns the function that forgets it. */
  open(caller: McpCaller, id: unknown, stop: AbortController): () => void {
    const key = OpenListens.#key(caller, id);
    this.#open.set(key, stop);
    return () => {
      if (this.#open.get(key) === stop) this.#open.delete(key);
    };
  }

  /** End the caller's listen stream with this request id, if one is open. */
  cancel(caller: McpCaller, id: unknown): void {
    this.#open.get(OpenListens.#key(caller, id))?.abort();
  }
}

/** `body`, calling `onEnd` once when it ends, errors or is cancelled. */
export function onStreamEnd(
  body: ReadableStream<Uint8Array>,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        end();
        controller.error(e);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
}
