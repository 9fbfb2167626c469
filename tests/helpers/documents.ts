/**
 * Real documents built in the test (no binary fixtures): PDFs with `pdf-lib`, DOCX files
 * zipped with `fflate` from the parts Word writes, and the hostile ones — a PDF encrypted with a user password (RC4
 * 128-bit, the PDF standard security handler revision 3, written here from the
 * specification), a PDF whose content streams inflate to gigabytes, DOCX zip bombs (honest
 * and lying about their sizes).
 */
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { PDFDocument, PDFName, PDFRawStream, StandardFonts } from "pdf-lib";
import { strToU8, unzipSync, zipSync } from "fflate";

/** A PDF whose pages hold the given lines (one page per entry), with a metadata title. */
export async function makePdf(pages: string[][], title?: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  if (title) pdf.setTitle(title);
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = pdf.addPage();
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 720 - i * 18, size: 12, font }));
  }
  return await pdf.save();
}

/** A PDF of `count` pages with one short line each. */
export async function makeManyPagesPdf(count: number): Promise<Uint8Array> {
  return await makePdf(Array.from({ length: count }, (_, i) => [`Page ${i + 1}.`]));
}

/**
 * A PDF whose only page draws a line of text, then `copies` references to one content
 * stream that inflates to `mib` MiB of spaces: PDF.js joins a page's content streams into one
 * buffer, so the page needs `copies × mib` MiB to read, from a file of a few kilobytes.
 */
export async function makeInflatingPdf(mib: number, copies: number): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const page = pdf.addPage();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  page.drawText("This page is a compression bomb.", { x: 50, y: 700, size: 12, font });
  const data = deflateSync(new Uint8Array(mib * 2 ** 20).fill(32), { level: 9 });
  const dict = pdf.context.obj({ Filter: "FlateDecode", Length: data.length });
  const ref = pdf.context.register(PDFRawStream.of(dict, data));
  const drawn = page.node.get(PDFName.of("Contents"));
  page.node.set(PDFName.of("Contents"), pdf.context.obj([drawn!, ...Array(copies).fill(ref)]));
  return await pdf.save();
}

const W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * A DOCX (Office Open XML, zipped with fflate) with a `Heading 1` paragraph, body paragraphs
 * and, when given, a title in `docProps/core.xml`: the parts Word itself writes for such a
 * document, minus the optional ones (theme, settings, fonts).
 */
export function makeDocx(heading: string, paragraphs: string[], title?: string): Uint8Array {
  const para = (text: string, style?: string) =>
    `<w:p>${
      style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : ""
    }<w:r><w:t xml:space="preserve">${xmlEscape(text)}</w:t></w:r></w:p>`;
  const rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
  const parts: Record<string, string> = {
    "[Content_Types].xml":
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`,
    "_rels/.rels":
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${rel}/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`,
    "word/_rels/document.xml.rels":
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${rel}/styles" Target="styles.xml"/></Relationships>`,
    "word/styles.xml":
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles xmlns:w="${W_NS}"><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style></w:styles>`,
    "word/document.xml":
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="${W_NS}"><w:body>${
        para(heading, "Heading1")
      }${paragraphs.map((p) => para(p)).join("")}</w:body></w:document>`,
    "docProps/core.xml":
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">${
        title ? `<dc:title>${xmlEscape(title)}</dc:title>` : ""
      }</cp:coreProperties>`,
  };
  return zipSync(
    Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, strToU8(v)])),
    { level: 6 },
  );
}

/**
 * A real DOCX whose `word/document.xml` is replaced by `mib` MiB of XML that deflates to
 * almost nothing (a zip bomb, sizes declared honestly).
 */
export function makeZipBombDocx(mib: number): Uint8Array {
  const parts = unzipSync(makeDocx("Bomb", ["x"]));
  const filler = "<w:p><w:r><w:t>bomb</w:t></w:r></w:p>";
  const body = filler.repeat(Math.ceil((mib * 2 ** 20) / filler.length));
  parts["word/document.xml"] = strToU8(
    `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`,
  );
  return zipSync(parts, { level: 9 });
}

/**
 * The zip bomb again, but its central directory declares `word/document.xml` 1 KiB large:
 * a reader that trusts the sizes allocates little, then inflates far more.
 */
export function makeLyingZipBombDocx(mib: number): Uint8Array {
  const zip = makeZipBombDocx(mib);
  const name = new TextEncoder().encode("word/document.xml");
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // Central directory headers (PK\x01\x02): uncompressed size at +24, name length at +28,
  // name at +46. Local headers (PK\x03\x04): uncompressed size at +22, name at +30.
  for (let i = 0; i + 46 < zip.length; i++) {
    const sig = view.getUint32(i, true);
    const at = sig === 0x02014b50 ? 46 : sig === 0x04034b50 ? 30 : -1;
    if (at < 0) continue;
    const nameLength = view.getUint16(i + (sig === 0x02014b50 ? 28 : 26), true);
    const found = nameLength === name.length &&
      name.every((b, k) => zip[i + at + k] === b);
    if (found) view.setUint32(i + (sig === 0x02014b50 ? 24 : 22), 1024, true);
  }
  return zip;
}

// --- an encrypted PDF (ISO 32000-1, 7.6.3: standard security handler, revision 3) ----------

const PAD = Uint8Array.from([
  0x28,
  0xbf,
  0x4e,
  0x5e,
  0x4e,
  0x75,
  0x8a,
  0x41,
  0x64,
  0x00,
  0x4e,
  0x56,
  0xff,
  0xfa,
  0x01,
  0x08,
  0x2e,
  0x2e,
  0x00,
  0xb6,
  0xd0,
  0x68,
  0x3e,
  0x80,
  0x2f,
  0x0c,
  0xa9,
  0xfe,
  0x64,
  0x53,
  0x69,
  0x7a,
]);

function md5(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i] + key[i % key.length]) & 255;
    [s[i], s[j]] = [s[j], s[i]];
  }
  const out = new Uint8Array(data.length);
  for (let k = 0, i = 0, j = 0; k < data.length; k++) {
    i = (i + 1) & 255;
    j = (j + s[i]) & 255;
    [s[i], s[j]] = [s[j], s[i]];
    out[k] = data[k] ^ s[(s[i] + s[j]) & 255];
  }
  return out;
}

function padded(password: string): Uint8Array {
  const out = new Uint8Array(32);
  const p = new TextEncoder().encode(password).subarray(0, 32);
  out.set(p);
  out.set(PAD.subarray(0, 32 - p.length), p.length);
  return out;
}

/** RC4 with `key`, then 19 more passes with the key's bytes XORed with 1..19 (R3). */
function rc4Rounds(key: Uint8Array, data: Uint8Array): Uint8Array {
  let out = rc4(key, data);
  for (let i = 1; i <= 19; i++) out = rc4(key.map((b) => b ^ i), out);
  return out;
}

function md5Times50(first: Uint8Array): Uint8Array {
  let h = first;
  for (let i = 0; i < 50; i++) h = md5(h.subarray(0, 16));
  return h.subarray(0, 16);
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** A one-page PDF whose text can be read only with `userPassword`. */
export function makeEncryptedPdf(text: string, userPassword: string): Uint8Array {
  const id = md5(new TextEncoder().encode(`id:${text}`));
  const permissions = -1028;
  const p = new Uint8Array(4);
  new DataView(p.buffer).setInt32(0, permissions, true);
  const ownerKey = md5Times50(md5(padded("owner-" + userPassword)));
  const o = rc4Rounds(ownerKey, padded(userPassword));
  const key = md5Times50(md5(padded(userPassword), o, p, id));
  const u = new Uint8Array(32);
  u.set(rc4Rounds(key, md5(PAD, id)));
  const objectKey = (num: number) =>
    md5(key, Uint8Array.from([num & 255, (num >> 8) & 255, (num >> 16) & 255, 0, 0]));
  const content = new TextEncoder().encode(`BT /F1 12 Tf 72 700 Td (${text}) Tj ET`);
  const encrypted = rc4(objectKey(4), content);

  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const offsets: number[] = [];
  let size = 0;
  const put = (b: Uint8Array | string) => {
    const bytes = typeof b === "string" ? enc.encode(b) : b;
    chunks.push(bytes);
    size += bytes.length;
  };
  const obj = (n: number, body: string, stream?: Uint8Array) => {
    offsets[n] = size;
    put(`${n} 0 obj\n${body}\n`);
    if (stream) (put("stream\n"), put(stream), put("\nendstream\n"));
    put("endobj\n");
  };
  put("%PDF-1.4\n");
  obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
  obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
  obj(
    3,
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
  );
  obj(4, `<< /Length ${encrypted.length} >>`, encrypted);
  obj(5, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  obj(
    6,
    `<< /Filter /Standard /V 2 /R 3 /Length 128 /O <${hex(o)}> /U <${hex(u)}> /P ${permissions} >>`,
  );
  const xref = size;
  put("xref\n0 7\n0000000000 65535 f \n");
  for (let n = 1; n <= 6; n++) put(`${String(offsets[n]).padStart(10, "0")} 00000 n \n`);
  put(
    `trailer\n<< /Size 7 /Root 1 0 R /Encrypt 6 0 R /ID [<${hex(id)}> <${
      hex(id)
    }>] >>\nstartxref\n${xref}\n%%EOF\n`,
  );
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (out.set(c, at), at += c.length);
  return out;
}
