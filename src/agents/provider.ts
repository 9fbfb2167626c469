/**
 * The model provider: any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI,
 * Ollama, vLLM, LM Studio, llama.cpp server) through the `openai` npm client, streaming text
 * and tool calls. One call = one model turn; the agent loop drives the turns.
 * @module
 */
import type OpenAI from "openai";
import type { ModelSettings } from "../core/model_settings.ts";
import { withoutNul, withoutNulDeep } from "../util/nul.ts";

/** A message of the chat-completions protocol (the subset the loop uses). */
export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A tool offered to the model (JSON Schema parameters). */
export interface ToolDefinition {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ModelTurnInput {
  messages: ChatMessage[];
  tools: ToolDefinition[];
  temperature?: number;
  /** Called with each streamed text delta. */
  /** Awaited before the next chunk is read: token events are stored in order. */
  onToken?: (text: string) => Promise<void> | void;
  signal?: AbortSignal;
  /** Stream (default) or ask for one JSON response. */
  stream?: boolean;
}

export interface ModelTurn {
  content: string;
  toolCalls: ChatToolCall[];
  finishReason: string | null;
}

/** A model endpoint failure, with a message safe to show (never the API key). */
export class ModelError extends Error {
  override name = "ModelError";
}

/** Per-request limit: a model that stops answering must not hold a run forever. */
const MODEL_REQUEST_TIMEOUT_MS = 5 * 60_000;

/**
 * The `openai` module, loaded on first use: importing it is ~15 % of the server's start-up
 * (bench/startup.ts), and only agents with a configured model need it.
 */
let openai: typeof import("openai") | null = null;

/** A client for the configured endpoint. */
export async function createModelClient(
  settings: { baseUrl: string; apiKey: string | null },
): Promise<OpenAI> {
  openai ??= await import("openai");
  return new openai.default({
    baseURL: settings.baseUrl,
    // Local servers (Ollama, llama.cpp) need no key; the client insists on one.
    apiKey: settings.apiKey ?? "not-needed",
    maxRetries: 1,
    timeout: MODEL_REQUEST_TIMEOUT_MS,
  });
}

function toolsParam(tools: ToolDefinition[]) {
  return tools.length === 0 ? undefined : tools.map((t) => ({
    type: "function" as const,
    function: { name: t.name, description: t.description, parameters: t.parameters },
  }));
}

/** Merge streamed tool-call fragments (by index) into complete calls. */
function mergeToolCallDelta(
  acc: ChatToolCall[],
  // deno-lint-ignore no-explicit-any
  delta: any,
): void {
  const i = typeof delta.index === "number" ? delta.index : acc.length;
  acc[i] ??= { id: "", type: "function", function: { name: "", arguments: "" } };
  if (delta.id) acc[i].id = delta.id;
  if (delta.function?.name) acc[i].function.name += delta.function.name;
  if (delta.function?.arguments) acc[i].function.arguments += delta.function.arguments;
}

/** One model turn: stream tokens to `onToken`, return the text and the tool calls. */
export async function runModelTurn(
  client: OpenAI,
  settings: Pick<ModelSettings, "model">,
  input: ModelTurnInput,
): Promise<ModelTurn> {
  const body = {
    model: settings.model!,
    messages: input.messages,
    tools: toolsParam(input.tools),
    temperature: input.temperature,
  };
  try {
    if (input.stream === false) {
      // deno-lint-ignore no-explicit-any
      const res = await client.chat.completions.create(body as any, { signal: input.signal });
      const choice = res.choices[0];
      const content = withoutNul(choice?.message?.content ?? "");
      if (content) await input.onToken?.(content);
      return {
        content,
        toolCalls: withoutNulDeep((choice?.message?.tool_calls ?? []) as ChatToolCall[]),
        finishReason: choice?.finish_reason ?? null,
      };
    }
    const stream = await client.chat.completions.create(
      // deno-lint-ignore no-explicit-any
      { ...body, stream: true } as any,
      { signal: input.signal },
    );
    let content = "";
    let finishReason: string | null = null;
    const toolCalls: ChatToolCall[] = [];
    // deno-lint-ignore no-explicit-any
    for await (const chunk of stream as any) {
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      const raw = choice.delta?.content;
      const text = typeof raw === "string" ? withoutNul(raw) : raw;
      if (typeof text === "string" && text !== "") {
        content += text;
        await input.onToken?.(text);
      }
      for (const d of choice.delta?.tool_calls ?? []) mergeToolCallDelta(toolCalls, d);
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
    return { content, toolCalls: withoutNulDeep(toolCalls.filter(Boolean)), finishReason };
  } catch (e) {
    if (input.signal?.aborted) throw e;
    throw new ModelError(describeModelFailure(e));
  }
}

function describeModelFailure(e: unknown): string {
  if (openai && e instanceof openai.default.APIError) {
    const status = e.status ? ` (HTTP ${e.status})` : "";
    return `The model endpoint returned an error${status}: ${e.message}`;
  }
  return `The model endpoint could not be reached: ${e instanceof Error ? e.message : String(e)}`;
}
