/**
 * Text extraction through the real path: `ExtractPool` starts a real extraction process per
 * document (`deno run src/extract/child_main.ts`), on documents built here by real writers
 * (pdf-lib, docx) and hostile ones (encrypted, corrupt, compression bombs, too many pages).
 */
import assert from "node:assert/strict";
import { getDocumentProxy } from "unpdf";
import { ExtractPool } from "../../src/extract/pool.ts";
import { detectKind } from "../../src/extract/kinds.ts";
import { DEFAULT_EXTRACT_LIMITS } from "../../src/extract/limits.ts";
import { DOCUMENT_TEXT_MAX_CHARS } from "../../src/core/documents.ts";
import { AppError } from "../../src/errors.ts";
import {
  makeDocx,
  makeEncryptedPdf,
  makeInflatingPdf,
  makeLyingZipBombDocx,
  makeManyPagesPdf,
  makePdf,
  makeZipBombDocx,
} from "../helpers/documents.ts";

const enc = new TextEncoder();

/** The refusal of a promise, as an AppError. */
async function refusal(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AppError, `expected an AppError, got ${e}`);
    return e;
  }
  assert.fail("expected a refusal");
}

/** Whether a process is alive (`ps -p`; reading /proc needs --allow-all). */
async function alive(pid: number): Promise<boolean> {
  const r = await new Deno.Command("ps", { args: ["-p", String(pid)], stdout: "null" }).output();
  return r.code === 0;
}

/** A pool that records the ids of the processes it starts. */
function watchedPool(options: ConstructorParameters<typeof ExtractPool>[0] = {}) {
  const pids: number[] = [];
  const pool = new ExtractPool({ ...options, onSpawn: (pid) => pids.push(pid) });
  return { pool, pids };
}

/** Every process the pool started has exited. */
async function allGone(pids: number[]): Promise<void> {
  assert.ok(pids.length > 0);
  for (const pid of pids) assert.equal(await alive(pid), false, `process ${pid} still runs`);
}

Deno.test("[extract] the default text limit is the document upsert's", () => {
  assert.equal(DEFAULT_EXTRACT_LIMITS.maxTextChars, DOCUMENT_TEXT_MAX_CHARS);
});

Deno.test("[extract] kind: content type first, then extension, then the bytes", () => {
  const pdf = enc.encode("%PDF-1.7\n");
  const text = enc.encode("hello");
  assert.equal(detectKind(text, { contentType: "application/pdf", fileName: "a.txt" }), "pdf");
  assert.equal(detectKind(text, { contentType: "text/plain; charset=utf-8" }), "text");
  // Browsers send text/plain (or nothing) for .md and .csv files.
  assert.equal(detectKind(text, { contentType: "text/plain", fileName: "notes.md" }), "markdown");
  assert.equal(detectKind(text, { contentType: "", fileName: "rows.CSV" }), "csv");
  assert.equal(detectKind(text, { fileName: "rows.tsv" }), "csv");
  assert.equal(detectKind(pdf, { contentType: "application/octet-stream" }), "pdf");
  assert.equal(detectKind(pdf, { contentType: "application/x-download", fileName: "x" }), "pdf");
  assert.equal(detectKind(enc.encode("  <!DOCTYPE html><p>x"), {}), "html");
  assert.equal(detectKind(text, { fileName: "README" }), "text");
  for (
    const [bytes, info] of [
      [text, { contentType: "image/png", fileName: "a.pdf" }],
      [text, { contentType: "application/msword", fileName: "a.doc" }],
      [text, { contentType: "application/json" }],
      [Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]), { fileName: "tool" }],
      [enc.encode("PK\x03\x04not a docx"), { fileName: "archive" }],
    ] as const
  ) {
    assert.throws(() => detectKind(bytes, info), (e: AppError) => {
      assert.equal(e.status, 400);
      assert.equal(e.type, "file_type_not_supported");
      assert.match(e.message, /Accepted: PDF \(\.pdf\), Word \(\.docx\), Markdown/);
      return true;
    });
  }
});

Deno.test("[extract] PDF, DOCX, Markdown, HTML, text and CSV: sentences and titles", async () => {
  const pool = new ExtractPool({ processes: 2, memberInFlight: 10, maxWaiting: 10 });
  try {
    const pdf = await makePdf(
      [["The aurora borealis lights the northern sky."], ["Glaciers carve deep fjords."]],
      "Polar Notes",
    );
    const docx = await makeDocx("Handbook Heading", ["The zebra crossing is painted white."]);
    const docxTitled = await makeDocx("Body Heading", ["Lanterns line the canal."], "Props Title");
    const md = "---\ntitle: Front Title\n---\n# Heading\n\nThe quokka smiles at tourists.\n";
    const html =
      "<!doctype html><html><head><title>Page Title</title><script>var hidden = 1</script>" +
      "</head><body><h1>Welcome</h1><p>The <b>axolotl</b> regrows its limbs &amp; gills.</p>" +
      "<table><tr><th>City</th></tr><tr><td>Oslo</td></tr></table></body></html>";
    const csv = "name,city,note\nAlice,Paris,likes tea\nBob,,\n,,\n";
    const cases = [
      [pdf, { contentType: "application/pdf", fileName: "polar.pdf" }],
      [docx, { fileName: "handbook.docx" }],
      [docxTitled, { fileName: "t.docx" }],
      [enc.encode(md), { contentType: "text/markdown", fileName: "q.md" }],
      [enc.encode(html), { contentType: "text/html" }],
      [enc.encode("\ufeffPlain words about the pangolin.\r\n"), { fileName: "p.txt" }],
      [enc.encode(csv), { contentType: "text/csv" }],
    ] as const;
    const [p, d, dt, m, h, t, c] = await Promise.all(
      cases.map(([bytes, info]) => pool.extract(bytes.slice(), info)),
    );
    assert.match(p.text, /The aurora borealis lights the northern sky\.\n\nGlaciers carve/);
    assert.equal(p.title, "Polar Notes");
    assert.equal(p.mimeType, "application/pdf");
    assert.match(d.text, /Handbook Heading\n\nThe zebra crossing is painted white\./);
    assert.equal(d.title, "Handbook Heading");
    assert.equal(
      d.mimeType,
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    );
    assert.equal(dt.title, "Props Title");
    assert.match(dt.text, /Lanterns line the canal\./);
    assert.match(m.text, /The quokka smiles at tourists\./);
    assert.equal(m.title, "Front Title");
    assert.equal(m.mimeType, "text/markdown");
    assert.match(h.text, /Welcome\n\nThe axolotl regrows its limbs & gills\./);
    assert.match(h.text, /City\nOslo/);
    assert.doesNotMatch(h.text, /hidden/);
    assert.equal(h.title, "Page Title");
    assert.equal(t.text, "Plain words about the pangolin.");
    assert.equal(t.title, null);
    assert.equal(c.text, "name: Alice\ncity: Paris\nnote: likes tea\n\nname: Bob");
    assert.equal(c.mimeType, "text/csv");
    assert.equal(pool.running, 0);
  } finally {
    await pool.close();
  }
});

Deno.test("[extract] corrupt, encrypted, empty and binary files are refused with a 400 that says why", async () => {
  const pool = new ExtractPool();
  try {
    const good = await makePdf([["Intact sentence."]]);
    const corrupt = good.slice(0, 200);
    const e1 = await refusal(pool.extract(corrupt, { fileName: "broken.pdf" }));
    assert.equal(e1.status, 400);
    assert.equal(e1.type, "file_processing_error");

    const locked = makeEncryptedPdf("The vault code is hidden here.", "s3cret");
    // The generator is real encryption: with the password, PDF.js reads the sentence.
    const opened = await getDocumentProxy(locked.slice(), { password: "s3cret", verbosity: 0 });
    const items = (await (await opened.getPage(1)).getTextContent()).items as { str: string }[];
    assert.equal(items.map((i) => i.str).join(""), "The vault code is hidden here.");
    await opened.loadingTask.destroy();
    const e2 = await refusal(pool.extract(locked, { fileName: "locked.pdf" }));
    assert.equal(e2.status, 400);
    assert.equal(e2.type, "file_processing_error");
    assert.match(e2.message, /password-protected/);

    const blank = await makePdf([[]]);
    const e3 = await refusal(pool.extract(blank, { fileName: "scan.pdf" }));
    assert.match(e3.message, /No text could be extracted from the PDF/);

    const e4 = await refusal(pool.extract(enc.encode("a\u0000b"), { fileName: "n.txt" }));
    assert.match(e4.message, /binary data/);

    const e5 = await refusal(pool.extract(enc.encode("PK\x03\x04junk"), { fileName: "x.docx" }));
    assert.match(e5.message, /not a valid ZIP archive/);
  } finally {
    await pool.close();
  }
});

Deno.test("[extract] a DOCX zip bomb is refused before it is inflated, honest or lying about its size", async () => {
  const pool = new ExtractPool();
  try {
    const bomb = await makeZipBombDocx(80);
    assert.ok(bomb.length < 2 * 2 ** 20, `the bomb is small (${bomb.length} bytes)`);
    const e1 = await refusal(pool.extract(bomb, { fileName: "bomb.docx" }));
    assert.equal(e1.status, 400);
    assert.match(e1.message, /expands to more than 64 MB/);
    const liar = await makeLyingZipBombDocx(80);
    const e2 = await refusal(pool.extract(liar, { fileName: "liar.docx" }));
    assert.equal(e2.status, 400);
    assert.equal(e2.type, "file_processing_error");
  } finally {
    await pool.close();
  }
});

Deno.test("[extract] page count, input size and text length are bounded", async () => {
  const pool = new ExtractPool();
  try {
    const many = await makeManyPagesPdf(DEFAULT_EXTRACT_LIMITS.maxPdfPages + 1);
    const e1 = await refusal(pool.extract(many, { fileName: "many.pdf" }));
    assert.equal(e1.type, "file_processing_error");
    assert.match(e1.message, /has 2001 pages; at most 2000/);

    const big = new Uint8Array(DEFAULT_EXTRACT_LIMITS.maxTextFileBytes + 1).fill(97);
    const e2 = await refusal(pool.extract(big, { fileName: "big.txt" }));
    assert.equal(e2.status, 400);
    assert.equal(e2.type, "file_too_large");

    const long = enc.encode("word ".repeat(DEFAULT_EXTRACT_LIMITS.maxTextChars / 5 + 10));
    const e3 = await refusal(pool.extract(long, { fileName: "long.md" }));
    assert.equal(e3.type, "file_too_large");
    assert.match(e3.message, /longer than the 1,500,000 characters/);
  } finally {
    await pool.close();
  }
});

Deno.test("[extract] a PDF that inflates past the memory limit is killed, and its process is gone", async () => {
  const { pool, pids } = watchedPool({ memoryBytes: 384 * 2 ** 20 });
  try {
    // 16 × 128 MiB = 2 GiB to read a file of a few hundred kilobytes.
    const bomb = await makeInflatingPdf(128, 16);
    assert.ok(bomb.length < 1024 * 1024);
    const e = await refusal(pool.extract(bomb, { fileName: "inflate.pdf" }));
    assert.equal(e.status, 400);
    assert.equal(e.type, "file_processing_error");
    assert.match(e.message, /needed more than 384 MB of memory and was stopped/);
    await allGone(pids);
    // The pool goes on serving.
    const ok = await pool.extract(enc.encode("still here"), { fileName: "a.txt" });
    assert.equal(ok.text, "still here");
  } finally {
    await pool.close();
  }
});

Deno.test("[extract] a document past the time limit is killed and refused; the process is gone", async () => {
  const { pool, pids } = watchedPool({ timeoutMs: 300 });
  try {
    const many = await makeManyPagesPdf(1500);
    const e = await refusal(pool.extract(many, { fileName: "slow.pdf" }));
    assert.equal(e.status, 400);
    assert.match(e.message, /took longer than 0\.3 s and was stopped/);
    await allGone(pids);
    assert.equal(pool.running, 0);
  } finally {
    await pool.close();
  }
});

Deno.test("[extract] at most `processes` run at once; a member's extra documents get 429; close() kills", async () => {
  const { pool, pids } = watchedPool({ processes: 1, memberInFlight: 2, maxWaiting: 1 });
  const doc = () => enc.encode("tiny");
  const first = pool.extract(doc(), { fileName: "1.txt" }, { owner: "user:1" });
  const second = pool.extract(doc(), { fileName: "2.txt" }, { owner: "user:1" });
  assert.equal(pool.running, 1);
  const third = await refusal(pool.extract(doc(), { fileName: "3.txt" }, { owner: "user:1" }));
  assert.equal(third.status, 429);
  // One running, one waiting: the queue is full for everyone.
  const other = await refusal(pool.extract(doc(), { fileName: "4.txt" }, { owner: "user:2" }));
  assert.equal(other.status, 503);
  assert.equal((await first).text, "tiny");
  assert.equal((await second).text, "tiny");
  // close() while a slow document runs: it is killed and refused, and nothing is left.
  const slow = pool.extract(await makeManyPagesPdf(1500), { fileName: "s.pdf" });
  await new Promise((r) => setTimeout(r, 50));
  await pool.close();
  const stopped = await refusal(slow);
  assert.equal(stopped.status, 503);
  await allGone(pids);
  assert.equal((await refusal(pool.extract(doc(), {}))).status, 503);
});
