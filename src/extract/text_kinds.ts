/**
 * The text-like kinds: plain text, Markdown, HTML (`html-to-text`, titles read with
 * `htmlparser2`) and CSV/TSV (`papaparse`). Each library is imported when a document of its
 * kind arrives, never at start-up.
 * @module
 */
import { textTooLong, unreadable } from "./limits.ts";

export interface Extracted {
  text: string;
  title: string | null;
}

/**
 * Bytes → string: a byte order mark decides (UTF-8, UTF-16 LE/BE); otherwise UTF-8 when the
 * bytes are valid UTF-8, else Windows-1252 (what legacy editors save).
 */
export function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return new TextDecoder("utf-8").decode(bytes.subarray(3));
  }
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return new TextDecoder("utf-16le").decode(bytes.subarray(2));
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return new TextDecoder("utf-16be").decode(bytes.subarray(2));
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder("windows-1252").decode(bytes);
  }
  if (text.includes("\u0000")) {
    throw unreadable("The file contains binary data (NUL bytes), not text.");
  }
  return text;
}

export function extractPlainText(bytes: Uint8Array): Extracted {
  return { text: decodeText(bytes), title: null };
}

/** A Markdown document's title: front matter `title:`, else its first level-1 heading. */
export function markdownTitle(text: string): string | null {
  const front = /^---\r?\n([\s\S]{0,4000}?)\r?\n---\r?\n/.exec(text);
  const fromFront = front && /^title:\s*["']?(.+?)["']?\s*$/m.exec(front[1]);
  if (fromFront) return fromFront[1];
  let fenced = false;
  for (const line of text.slice(0, 200_000).split(/\r?\n/)) {
    if (/^\s{0,3}(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^\s{0,3}#\s+(.+?)\s*#*\s*$/.exec(line);
    if (m) return m[1];
  }
  return null;
}

export function extractMarkdown(bytes: Uint8Array): Extracted {
  const text = decodeText(bytes);
  return { text, title: markdownTitle(text) };
}

interface HtmlToText {
  convert(html: string, options: Record<string, unknown>): string;
}

const HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"];

/**
 * HTML → readable text: headings and table headers keep their case, links their words only,
 * images and scripts are dropped. `maxDepth` keeps a hostile nesting from overflowing the
 * stack (what lies deeper is dropped); the input length bound is the caller's.
 */
export async function htmlToText(html: string): Promise<string> {
  const { convert } = await import("html-to-text") as HtmlToText;
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: "a", options: { ignoreHref: true } },
      { selector: "img", format: "skip" },
      ...HEADINGS.map((h) => ({ selector: h, options: { uppercase: false } })),
      { selector: "table", format: "dataTable", options: { uppercaseHeaderCells: false } },
    ],
    limits: { maxInputLength: Number.MAX_SAFE_INTEGER, maxDepth: 500 },
  });
}

interface ParserModule {
  Parser: new (
    handler: {
      onopentag?(name: string): void;
      ontext?(text: string): void;
      onclosetag?(name: string): void;
    },
    options?: Record<string, unknown>,
  ) => { write(s: string): void; end(): void };
}

/** The first text inside each of `tags` (lower-case names), at most 1,024 characters each. */
async function firstTexts(
  markup: string,
  tags: string[],
  options: Record<string, unknown> = {},
): Promise<Map<string, string>> {
  const { Parser } = await import("htmlparser2") as ParserModule;
  const found = new Map<string, string>();
  let open: string | null = null;
  let buf = "";
  const parser = new Parser({
    onopentag(name) {
      const tag = name.toLowerCase();
      if (open === null && tags.includes(tag) && !found.has(tag)) [open, buf] = [tag, ""];
    },
    ontext(text) {
      if (open !== null && buf.length < 1024) buf += text;
    },
    onclosetag(name) {
      if (open !== null && name.toLowerCase() === open) {
        const t = buf.replace(/\s+/g, " ").trim();
        if (t) found.set(open, t);
        open = null;
      }
    },
  }, { decodeEntities: true, ...options });
  parser.write(markup);
  parser.end();
  return found;
}

/** An HTML page's title: `<title>`, else its first `<h1>`, else its first heading. */
export async function htmlTitle(html: string): Promise<string | null> {
  const found = await firstTexts(html, ["title", ...HEADINGS]);
  for (const tag of ["title", ...HEADINGS]) if (found.has(tag)) return found.get(tag)!;
  return null;
}

/** `dc:title` of a DOCX's `docProps/core.xml`. */
export async function coreXmlTitle(xml: string): Promise<string | null> {
  const found = await firstTexts(xml, ["dc:title"], { xmlMode: true });
  return found.get("dc:title") ?? null;
}

export async function extractHtml(bytes: Uint8Array): Promise<Extracted> {
  const html = decodeText(bytes);
  return { text: await htmlToText(html), title: await htmlTitle(html) };
}

interface Papa {
  parse(
    text: string,
    options: Record<string, unknown>,
  ): { data: string[][]; errors: { message: string; row?: number }[] };
}

/**
 * CSV/TSV → one block per row of `column: value` lines (empty cells left out), blocks apart
 * by a blank line. Each block names its columns, so a chunk cut from the middle of a long
 * table still reads (and is found) on its own, which a Markdown table's rows would not.
 * The first row is the header; the delimiter is detected (comma, tab, semicolon, pipe).
 */
export async function extractCsv(bytes: Uint8Array, maxChars: number): Promise<Extracted> {
  const mod = await import("papaparse") as { default: Papa };
  const parsed = mod.default.parse(decodeText(bytes), { skipEmptyLines: "greedy" });
  const rows = parsed.data;
  if (rows.length === 0) return { text: "", title: null };
  const header = rows[0].map((h, i) => h.trim() || `column ${i + 1}`);
  if (rows.length === 1) return { text: header.join(", "), title: null };
  const blocks: string[] = [];
  let size = 0;
  for (const row of rows.slice(1)) {
    const lines: string[] = [];
    row.forEach((cell, i) => {
      const value = cell.trim();
      if (value) lines.push(`${header[i] ?? `column ${i + 1}`}: ${value}`);
    });
    if (lines.length === 0) continue;
    const block = lines.join("\n");
    size += block.length + 2;
    // Column names repeat on every row: refuse as soon as the text passes the limit.
    if (size > maxChars + 2) throw textTooLong(maxChars);
    blocks.push(block);
  }
  return { text: blocks.join("\n\n"), title: null };
}
