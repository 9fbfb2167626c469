/**
 * The words of a MATCH string built by `buildMatchQuery` (`"a" OR "b"`), back as a list: what
 * PostgreSQL's tsquery and the snippets (src/core/snippet.ts) are made of.
 * @module
 */
export function matchTerms(match: string): string[] {
  const out: string[] = [];
  for (const m of match.matchAll(/"((?:[^"]|"")*)"/g)) out.push(m[1].replaceAll('""', '"'));
  return out;
}
