/**
 * DOCX → text with `mammoth` (Word's document model → HTML), then the HTML path
 * (`text_kinds.ts`), so headings, lists and tables read the same as an HTML upload. The title
 * is `docProps/core.xml`'s `dc:title`, else the first heading.
 *
 * A DOCX is a ZIP archive, and a small one can expand to gigabytes (a zip bomb). Before
 * mammoth sees it, `fflate` lists the archive and keeps only its XML parts (`.xml`,
 * `.rels`: media are never inflated), refusing an archive whose entries are too many or
 * whose parts declare more than `maxUnzippedBytes`. fflate inflates each part into a buffer
 * of its declared size, so a part that lies about its size is cut there, not grown (memory
 * stays within the declared total); the parts are then stored uncompressed in a new archive
 * for mammoth, which has nothing left to inflate.
 *
 * mammoth 1.13 sets prototypes through `__proto__`, whose setter Deno disables; the standard
 * accessor is put back (once) before mammoth loads. Only the extraction process (one
 * document, then it exits: `child.ts`) runs this, never the server.
 * @module
 */
import { AppError } from "../errors.ts";
import { type ExtractLimits, unreadable } from "./limits.ts";
import { coreXmlTitle, type Extracted, htmlTitle, htmlToText } from "./text_kinds.ts";

interface Fflate {
  unzipSync(
    data: Uint8Array,
    opts: { filter(f: { name: string; originalSize: number; size: number }): boolean },
  ): Record<string, Uint8Array>;
  zipSync(files: Record<string, Uint8Array>, opts: { level: 0 }): Uint8Array;
}

interface Mammoth {
  convertToHtml(
    input: { buffer: Uint8Array },
    options: Record<string, unknown>,
  ): Promise<{ value: string }>;
  images: { imgElement(f: () => Promise<{ src: string }>): unknown };
}

/** Unzip the XML parts, bounded (see the module comment). */
function unzipXmlParts(
  fflate: Fflate,
  bytes: Uint8Array,
  limits: ExtractLimits,
): Record<string, Uint8Array> {
  let entries = 0;
  let declared = 0;
  try {
    return fflate.unzipSync(bytes, {
      filter(f) {
        if (++entries > limits.maxZipEntries) {
          throw unreadable(`The DOCX archive lists more than ${limits.maxZipEntries} entries.`);
        }
        if (!/\.(xml|rels)$/i.test(f.name)) return false;
        declared += f.originalSize;
        if (declared > limits.maxUnzippedBytes) {
          throw unreadable(
            `The DOCX expands to more than ${
              Math.round(limits.maxUnzippedBytes / 2 ** 20)
            } MB of XML (a compression bomb, or a document too large to index).`,
          );
        }
        return true;
      },
    });
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw unreadable("The file could not be read as a DOCX: it is not a valid ZIP archive.");
  }
}

/** Deno disables assignment through `Object.prototype.__proto__`; mammoth relies on it. */
function restoreProtoAccessor(): void {
  const probe: Record<string, unknown> = {};
  probe["__proto__"] = Array.prototype;
  if (Object.getPrototypeOf(probe) === Array.prototype) return;
  Object.defineProperty(Object.prototype, "__proto__", {
    get(this: object) {
      return Object.getPrototypeOf(this);
    },
    set(this: object, proto: object | null) {
      Object.setPrototypeOf(this, proto);
    },
    configurable: true,
  });
}

export async function extractDocx(bytes: Uint8Array, limits: ExtractLimits): Promise<Extracted> {
  const fflate = await import("fflate") as Fflate;
  const parts = unzipXmlParts(fflate, bytes, limits);
  if (!parts["word/document.xml"]) {
    throw unreadable("The file is not a Word document (it has no word/document.xml).");
  }
  const core = parts["docProps/core.xml"];
  const coreTitle = core ? await coreXmlTitle(new TextDecoder().decode(core)) : null;
  const stored = fflate.zipSync(parts, { level: 0 });
  restoreProtoAccessor();
  const mammoth = (await import("mammoth")).default as unknown as Mammoth;
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: stored }, {
      convertImage: mammoth.images.imgElement(() => Promise.resolve({ src: "" })),
      externalFileAccess: false,
    })).value;
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    throw unreadable(`The DOCX could not be read: ${m.length > 200 ? `${m.slice(0, 200)}…` : m}`);
  }
  return { text: await htmlToText(html), title: coreTitle ?? await htmlTitle(html) };
}
