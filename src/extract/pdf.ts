/**
 * PDF → text with `unpdf` (Mozilla's PDF.js in its serverless build, 1.7 MB, no canvas, no
 * worker of its own), imported when a PDF arrives. Text runs are joined page by page, lines
 * where PDF.js marks an end of line, pages apart by a blank line. The title is the
 * document's `Title` (or its XMP `dc:title`).
 *
 * Hostile PDFs: the page count is checked before any page is read; the text is counted page
 * by page and refused as soon as it passes the limit; this PDF.js (v5) never compiles font
 * programs into functions (the bundle has no `new Function`). What no option bounds (a compressed stream
 * that inflates to gigabytes) is bounded by the extraction process's time and memory limits
 * (`pool.ts`).
 * @module
 */
import { type ExtractLimits, textTooLong, unreadable } from "./limits.ts";
import type { Extracted } from "./text_kinds.ts";

interface TextItem {
  str?: string;
  hasEOL?: boolean;
}

interface PdfDocument {
  numPages: number;
  getMetadata(): Promise<
    { info?: Record<string, unknown>; metadata?: { get(k: string): unknown } }
  >;
  getPage(
    n: number,
  ): Promise<{ getTextContent(): Promise<{ items: TextItem[] }>; cleanup(): void }>;
  loadingTask: { destroy(): Promise<void> };
}

function describe(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 200 ? `${m.slice(0, 200)}…` : m;
}

async function openPdf(bytes: Uint8Array): Promise<PdfDocument> {
  const { getDocumentProxy } = await import("unpdf");
  try {
    return await getDocumentProxy(bytes, {
      useSystemFonts: false,
      disableFontFace: true,
      verbosity: 0,
    }) as unknown as PdfDocument;
  } catch (e) {
    if (e instanceof Error && e.name === "PasswordException") {
      throw unreadable(
        "The PDF is password-protected. Remove the password (save an unprotected copy) and upload it again.",
      );
    }
    throw unreadable(`The file could not be read as a PDF: ${describe(e)}`);
  }
}

function titleOf(meta: Awaited<ReturnType<PdfDocument["getMetadata"]>> | null): string | null {
  const info = meta?.info?.Title;
  if (typeof info === "string" && info.trim()) return info;
  const xmp = meta?.metadata?.get("dc:title");
  return typeof xmp === "string" && xmp.trim() ? xmp : null;
}

export async function extractPdf(bytes: Uint8Array, limits: ExtractLimits): Promise<Extracted> {
  const pdf = await openPdf(bytes);
  try {
    if (pdf.numPages > limits.maxPdfPages) {
      throw unreadable(
        `The PDF has ${pdf.numPages} pages; at most ${limits.maxPdfPages} are accepted. Split it into smaller documents.`,
      );
    }
    const title = titleOf(await pdf.getMetadata().catch(() => null));
    const pages: string[] = [];
    let size = 0;
    for (let n = 1; n <= pdf.numPages; n++) {
      let text = "";
      try {
        const page = await pdf.getPage(n);
        const content = await page.getTextContent();
        for (const item of content.items) {
          if (typeof item.str === "string") text += item.str + (item.hasEOL ? "\n" : "");
        }
        page.cleanup();
      } catch (e) {
        throw unreadable(`Page ${n} of the PDF could not be read: ${describe(e)}`);
      }
      size += text.length + 2;
      if (size > limits.maxTextChars + 2) throw textTooLong(limits.maxTextChars);
      pages.push(text);
    }
    return { text: pages.join("\n\n"), title };
  } finally {
    await pdf.loadingTask.destroy().catch(() => {});
  }
}
