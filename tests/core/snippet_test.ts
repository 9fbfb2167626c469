/** Search snippets: one function for both engines (src/core/snippet.ts). */
import assert from "node:assert/strict";
import { SNIPPET_WORDS, snippetOf, snippetWords } from "../../src/core/snippet.ts";
import { buildMatchQuery } from "../../src/core/search.ts";

const words = (n: number, prefix = "w") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

Deno.test("[snippet] the query's words as the index folds them, once each", () => {
  assert.deepEqual(snippetWords(buildMatchQuery("Café POLICY café")), ["cafe", "policy"]);
  assert.deepEqual(snippetWords('"a""b"'), ["a", "b"]);
  assert.deepEqual(snippetWords(""), []);
});

Deno.test("[snippet] a short chunk is given whole, without ellipses", () => {
  const text = "The zeppelin policy applies to every flight.";
  assert.equal(snippetOf(` ${text}\n`, ["zeppelin"]), text);
});

Deno.test("[snippet] a long chunk is cut around its best window, with ellipses where it goes on", () => {
  const text = [...words(100), "zeppelin", "x1", "policy", ...words(100, "v")].join(" ") + ".";
  const s = snippetOf(text, ["zeppelin", "policy"]);
  assert.ok(s.startsWith("…") && s.endsWith("…"), s);
  assert.match(s, /zeppelin x1 policy/);
  assert.equal(s.replaceAll("…", "").split(" ").length, SNIPPET_WORDS);
  // The window holding both words wins over an earlier one holding one.
  const two = [...words(5), "policy", ...words(60, "u"), "zeppelin", "policy", ...words(60, "v")]
    .join(" ");
  assert.match(snippetOf(two, ["zeppelin", "policy"]), /zeppelin policy/);
});

Deno.test("[snippet] diacritics and case fold as in the index; no hit gives the start", () => {
  const text = `${words(40).join(" ")} CAFÉ crème ${words(40, "v").join(" ")}`;
  assert.match(snippetOf(text, snippetWords(buildMatchQuery("cafe"))), /CAFÉ crème/);
  const none = snippetOf(text, ["absent"]);
  assert.ok(none.startsWith("w0 w1") && none.endsWith("…"), none);
  assert.equal(snippetOf("", ["a"]), "");
  assert.equal(snippetOf("…, !", ["a"]), "");
});
