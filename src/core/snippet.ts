/**
 * The snippet of a search hit, one function for both engines: about {@link SNIPPET_WORDS} words of
 * the chunk around the query's words, cut at word boundaries, with "…" where the chunk goes on.
 * It is cut from the chunk text the search reads anyway. FTS5's `snippet()` and PostgreSQL's
 * `ts_headline` re-tokenised every hit inside the database, and `snippet()` needed the `MATCH`
 * evaluated again for the ten rows: most of a small search's detail query (BENCHMARKS.md).
 * @module
 */
import { matchTerms } from "./match_terms.ts";

export const SNIPPET_WORDS = 32;

/** Words as the indexes see them: letters, digits and combining marks. */
const WORD = /[\p{L}\p{N}\p{Mn}]+/gu;
/** Printable ASCII only (a word never holds control characters): lower-casing is all the
 * folding such a word needs. */
const ASCII = /^[ -~]*$/;

/** A word folded as the indexes fold it (lower case, diacritics removed). */
export function foldWord(word: string): string {
  const lower = word.toLowerCase();
  return ASCII.test(lower) ? lower : lower.normalize("NFKD").replace(/\p{Mn}/gu, "");
}

/** The words of a MATCH string built by `buildMatchQuery` (`"a" OR "b"`), folded, once each. */
export function snippetWords(match: string): string[] {
  const out = new Set<string>();
  for (const term of matchTerms(match)) {
    for (const w of term.matchAll(WORD)) out.add(foldWord(w[0]));
  }
  return [...out];
}

interface Token {
  start: number;
  end: number;
  /** Index of the query word this token is, or -1. */
  hit: number;
}

/**
 * The words of `text` around its best window: the window of `size` words holding the most
 * distinct query words (the earliest of equals), widened on both sides to centre them. A chunk
 * without any of the words gives its first `size` words.
 */
export function snippetOf(text: string, words: readonly string[], size = SNIPPET_WORDS): string {
  const index = new Map(words.map((w, i) => [w, i]));
  const tokens: Token[] = [];
  for (const m of text.matchAll(WORD)) {
    tokens.push({
      start: m.index,
      end: m.index + m[0].length,
      hit: index.get(foldWord(m[0])) ?? -1,
    });
  }
  if (tokens.length === 0) return "";
  let best = -1;
  let bestLast = -1;
  let bestScore = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i].hit < 0) continue;
    const seen = new Set<number>();
    let last = i;
    for (let j = i; j < Math.min(tokens.length, i + size); j++) {
      if (tokens[j].hit >= 0) {
        seen.add(tokens[j].hit);
        last = j;
      }
    }
    if (seen.size > bestScore) {
      bestScore = seen.size;
      best = i;
      bestLast = last;
    }
  }
  let start = best < 0 ? 0 : Math.max(0, best - Math.floor((size - (bestLast - best + 1)) / 2));
  const end = Math.min(tokens.length, start + size);
  start = Math.max(0, end - size);
  // The chunk's own start and end (punctuation included) when the window reaches them.
  const from = start > 0 ? tokens[start].start : 0;
  const to = end < tokens.length ? tokens[end - 1].end : text.length;
  return (start > 0 ? "…" : "") + text.slice(from, to).trim() + (end < tokens.length ? "…" : "");
}
