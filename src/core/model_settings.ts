/**
 * The model agents use: an OpenAI-compatible chat-completions endpoint. Boot configuration
 * (`--model-base-url`, `--model-api-key`, `--model` or their `DUST_MCP_MODEL_*` variables)
 * is the default; an instance admin may override it at runtime from the admin settings page
 * (rows `model.base_url`, `model.api_key`, `model.name` of `instance_settings`). The API key
 * is a secret: never returned, only whether one is set.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { findUserById } from "./users.ts";

export const MODEL_SETTING_KEYS = {
  baseUrl: "model.base_url",
  apiKey: "model.api_key",
  model: "model.name",
} as const;

/** The effective model configuration. */
export interface ModelSettings {
  baseUrl: string | null;
  apiKey: string | null;
  model: string | null;
  /** Where the base URL and model came from. */
  source: "settings" | "config" | "none";
}

/** What agents tell the user when no model is configured. */
export const MODEL_NOT_CONFIGURED_MESSAGE =
  "No model is configured for agents on this instance. An instance admin can set one on the " +
  "admin settings page (Model section), or start the server with --model-base-url <url> " +
  "--model <name> [--model-api-key <key>] (environment: DUST_MCP_MODEL_BASE_URL, " +
  "DUST_MCP_MODEL, DUST_MCP_MODEL_API_KEY), pointing at any OpenAI-compatible " +
  "chat-completions endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, llama.cpp).";

async function readSetting(deps: Deps, key: string): Promise<string | null> {
  const r = await deps.db.get("SELECT value FROM instance_settings WHERE key = ?", key) as
    | { value: string }
    | undefined;
  if (!r) return null;
  const v = JSON.parse(r.value);
  return typeof v === "string" && v !== "" ? v : null;
}

/** The model configuration in effect: saved settings override the boot configuration. */
export async function getModelSettings(deps: Deps): Promise<ModelSettings> {
  const saved = {
    baseUrl: await readSetting(deps, MODEL_SETTING_KEYS.baseUrl),
    apiKey: await readSetting(deps, MODEL_SETTING_KEYS.apiKey),
    model: await readSetting(deps, MODEL_SETTING_KEYS.model),
  };
  if (saved.baseUrl && saved.model) return { ...saved, source: "settings" };
  const c = deps.config;
  if (c.modelBaseUrl && c.model) {
    return { baseUrl: c.modelBaseUrl, apiKey: c.modelApiKey, model: c.model, source: "config" };
  }
  return { baseUrl: null, apiKey: null, model: null, source: "none" };
}

/** True when agents can run. */
export function isModelConfigured(s: ModelSettings): s is ModelSettings & {
  baseUrl: string;
  model: string;
} {
  return s.baseUrl !== null && s.model !== null;
}

/** What the settings page shows: everything but the key itself. */
export async function describeModelSettings(deps: Deps): Promise<
  Omit<ModelSettings, "apiKey"> & {
    apiKeySet: boolean;
  }
> {
  const s = await getModelSettings(deps);
  return { baseUrl: s.baseUrl, model: s.model, source: s.source, apiKeySet: s.apiKey !== null };
}

async function requireInstanceAdmin(deps: Deps, actor: Actor): Promise<void> {
  const user = actor.kind === "user" ? await findUserById(deps.db, actor.user.id) : null;
  if (!user?.isInstanceAdmin) {
    throw new AppError(403, "workspace_auth_error", "Only an instance admin can change the model.");
  }
}

export interface SetModelSettingsInput {
  /** Base URL of the endpoint (`…/v1`); empty clears the override (back to flags/env). */
  baseUrl: string;
  model: string;
  /** New API key; undefined keeps the saved one, empty string clears it. */
  apiKey?: string;
}

function normaliseBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw invalid(`baseUrl: "${raw}" is not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid("baseUrl: must be an http or https URL");
  }
  return url.href.replace(/\/$/, "");
}

/** Save (or clear, with an empty base URL) the instance's model override. Admins only. */
export async function setModelSettings(
  deps: Deps,
  actor: Actor,
  input: SetModelSettingsInput,
): Promise<Awaited<ReturnType<typeof describeModelSettings>>> {
  await requireInstanceAdmin(deps, actor);
  const t = now();
  const put = deps.db.prepare(
    `INSERT INTO instance_settings (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  );
  const del = deps.db.prepare("DELETE FROM instance_settings WHERE key = ?");
  const clear = input.baseUrl.trim() === "";
  const baseUrl = clear ? null : normaliseBaseUrl(input.baseUrl);
  const model = input.model.trim();
  if (!clear && (model.length === 0 || model.length > 200)) {
    throw invalid("model: must be 1 to 200 characters");
  }
  await deps.db.tx(async () => {
    if (clear) {
      for (const k of Object.values(MODEL_SETTING_KEYS)) await del.run(k);
      return;
    }
    await put.run(MODEL_SETTING_KEYS.baseUrl, JSON.stringify(baseUrl), t);
    await put.run(MODEL_SETTING_KEYS.model, JSON.stringify(model), t);
    if (input.apiKey === "") await del.run(MODEL_SETTING_KEYS.apiKey);
    else if (input.apiKey !== undefined) {
      await put.run(MODEL_SETTING_KEYS.apiKey, JSON.stringify(input.apiKey), t);
    }
  });
  return await describeModelSettings(deps);
}
