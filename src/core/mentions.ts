/**
 * Mentions (`@dust-tt/client` `parseForMentions`, `getMentionsSuggestions`):
 *
 * - {@link parseMentions}: `@Name` in pasted markdown becomes Dust's serialised agent mention
 *   `:mention[Name]{sId=<agent sId>}` for every active agent of the caller's default view,
 *   longest names first, case-insensitively; an `@` must start the text or follow whitespace,
 *   and the name must end the text or be followed by whitespace or `.,!?;:` (Dust's rules;
 *   like Dust, people are not turned into mentions).
 * - {@link suggestMentions}: agents (`RichMention` type `agent`) and members (type `user`)
 *   whose name matches a query, best matches first; in a conversation its participants come
 *   first among people. The caller is left out unless `current` is true.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { fullName } from "../auth/actor.ts";
import { favoriteAgentIds, fuzzyRank, listAgentConfigurations } from "./agents.ts";
import { requireReadableConversation } from "./conversation_views.ts";

/** Longest markdown parsed at once (the REST body limit is larger). */
export const MENTIONS_MARKDOWN_MAX = 200_000;
/** Suggestions of each kind at most. */
export const SUGGESTIONS_MAX = 10;

/** Dust's serialised agent mention. */
export function serializeAgentMention(name: string, sId: string): string {
  return `:mention[${name}]{sId=${sId}}`;
}

/** `POST assistant/mentions/parse` `{ markdown }` → `{ markdown }`. */
export async function parseMentions(
  deps: Deps,
  actor: Actor,
  input: { markdown: string },
): Promise<{ markdown: string }> {
  const agents = (await listAgentConfigurations(deps, actor, {}))
    .filter((a) => a.name.length > 0 && a.name.length <= 1000)
    .sort((a, b) => b.name.length - a.name.length);
  let text = input.markdown;
  for (const a of agents) {
    const serialized = serializeAgentMention(a.name, a.sId);
    const needle = `@${a.name}`.toLowerCase();
    let lower = text.toLowerCase();
    let from = 0;
    for (;;) {
      const at = lower.indexOf(needle, from);
      if (at === -1) break;
      const before = at === 0 ? "" : lower.charAt(at - 1);
      const after = lower.charAt(at + needle.length);
      if ((before !== "" && !/\s/.test(before)) || (after !== "" && !/[\s.,!?;:]/.test(after))) {
        from = at + 1;
        continue;
      }
      text = text.slice(0, at) + serialized + text.slice(at + needle.length);
      lower = text.toLowerCase();
      from = at + serialized.length;
    }
  }
  return { markdown: text };
}

/** Dust's `RichMention`. */
export interface RichMention {
  id: string;
  type: "agent" | "user";
  label: string;
  pictureUrl: string;
  description: string;
  userFavorite?: boolean;
}

interface SuggestInput {
  query: string;
  agents: boolean;
  users: boolean;
  current: boolean;
  conversationId?: string;
}

/** `GET assistant/[conversations/{cId}/]mentions/suggestions` → `{ suggestions }`. */
export async function suggestMentions(
  deps: Deps,
  actor: Actor,
  input: SuggestInput,
): Promise<{ suggestions: RichMention[] }> {
  const conversation = input.conversationId
    ? await requireReadableConversation(deps, actor, input.conversationId)
    : null;
  const out: RichMention[] = [];
  if (input.agents) out.push(...await agentSuggestions(deps, actor, input.query));
  if (input.users) {
    out.push(...await userSuggestions(deps, actor, input, conversation?.id ?? null));
  }
  return { suggestions: out };
}

async function agentSuggestions(deps: Deps, actor: Actor, query: string) {
  const favorites = await favoriteAgentIds(deps.db, actor);
  return (await listAgentConfigurations(deps, actor, {}))
    .map((a) => ({ a, rank: fuzzyRank(a.name, query) }))
    .filter((x): x is { a: typeof x.a; rank: number } => x.rank !== null)
    .sort((x, y) => x.rank - y.rank)
    .slice(0, SUGGESTIONS_MAX)
    .map(({ a }): RichMention => ({
      id: a.sId,
      type: "agent",
      label: a.name,
      pictureUrl: a.pictureUrl,
      description: a.description,
      ...(actor.kind === "user" ? { userFavorite: favorites.has(a.id) } : {}),
    }));
}

async function userSuggestions(
  deps: Deps,
  actor: Actor,
  input: SuggestInput,
  conversationId: number | null,
): Promise<RichMention[]> {
  const rows = await deps.db.all(
    `SELECT u.id, u.s_id, u.email, u.username, u.first_name, u.last_name, u.image_url,
       CASE WHEN p.user_id IS NULL THEN 0 ELSE 1 END AS participant
     FROM memberships m JOIN users u ON u.id = m.user_id
     LEFT JOIN conversation_participants p ON p.user_id = u.id AND p.conversation_id = ?
     WHERE m.workspace_id = ? ORDER BY m.id LIMIT 10000`,
    conversationId ?? -1,
    actor.workspace.id,
  ) as Record<string, never>[];
  const me = actor.kind === "user" ? actor.user.id : null;
  return rows
    .filter((r) => input.current || r.id !== me)
    .map((r) => {
      const label = fullName({ firstName: r.first_name, lastName: r.last_name }) || r.username;
      const ranks = [label, r.username, r.email].map((s) => fuzzyRank(s, input.query))
        .filter((x): x is number => x !== null);
      return { r, label, rank: ranks.length ? Math.min(...ranks) : null };
    })
    .filter((x): x is typeof x & { rank: number } => x.rank !== null)
    .sort((x, y) => (y.r.participant - x.r.participant) || x.rank - y.rank)
    .slice(0, SUGGESTIONS_MAX)
    .map(({ r, label }): RichMention => ({
      id: r.s_id,
      type: "user",
      label,
      pictureUrl: r.image_url ?? "",
      description: r.email,
    }));
}
