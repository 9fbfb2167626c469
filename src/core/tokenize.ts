/**
 * Dust's data source tokenizer (`POST data_sources/{dsId}/tokenize`, `@dust-tt/client`
 * `tokenize`): the text cut into `[id, text]` pairs by OpenAI's `cl100k_base` encoding (the
 * encoding of the embedding models Dust's data sources use), with `js-tiktoken`. The encoding
 * (1 MB of ranks, ~250 ms to build) is loaded on the first call, not at start. The answer
 * names it in `tokenizer`, a field Dust's response schema lets through.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { locateDataSource } from "./data_sources.ts";

/** Longest text tokenized in one call: BPE runs on the event loop (~2 µs per character). */
export const TOKENIZE_MAX_CHARS = 65_536;
export const TOKENIZER_NAME = "cl100k_base";

interface Encoder {
  encode(text: string): number[];
  decode(tokens: number[]): string;
}

let encoder: Promise<Encoder> | null = null;

function loadEncoder(): Promise<Encoder> {
  encoder ??= (async () => {
    const { Tiktoken } = await import("js-tiktoken/lite");
    const { default: ranks } = await import("js-tiktoken/ranks/cl100k_base");
    return new Tiktoken(ranks);
  })().catch((e) => {
    encoder = null; // a failed load is tried again on the next call
    throw e;
  });
  return encoder;
}

/** Tokenize `text` for a data source the actor reads (404 `data_source_not_found` otherwise). */
export async function tokenizeForDataSource(
  deps: Deps,
  actor: Actor,
  input: { dataSourceId: string; text: string },
): Promise<{ tokens: [number, string][]; tokenizer: string }> {
  await locateDataSource(deps, actor, { dataSourceId: input.dataSourceId });
  if (input.text.length > TOKENIZE_MAX_CHARS) {
    throw invalid(`text: must be at most ${TOKENIZE_MAX_CHARS} characters`);
  }
  const enc = await loadEncoder();
  const tokens = enc.encode(input.text).map((id): [number, string] => [id, enc.decode([id])]);
  return { tokens, tokenizer: TOKENIZER_NAME };
}
