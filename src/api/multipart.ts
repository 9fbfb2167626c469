/**
 * A streaming reader for one file field of a `multipart/form-data` body (RFC 7578), so an
 * upload goes to disk as it arrives instead of being buffered whole (`Request.formData()`
 * holds every byte in memory). Parts before the wanted field are skipped; the field's bytes
 * are handed out as a stream that ends at the next boundary. Header blocks are capped.
 * @module
 */
import { invalid } from "../errors.ts";

const CRLF = new Uint8Array([13, 10]);
const HEADER_BLOCK_MAX = 16 * 1024;
const encoder = new TextEncoder();

/** The boundary of a `multipart/form-data` content type, or null. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : null;
}

/** Index of `needle` in `hay` from `from`, or -1 (first-byte scan; boundaries are short). */
function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  for (let i = hay.indexOf(first, from); i !== -1 && i <= last; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Buffered reading over the request body. */
class Source {
  buf: Uint8Array;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  done = false;

  constructor(body: ReadableStream<Uint8Array>) {
    // A leading CRLF lets the first boundary match the same "\r\n--boundary" delimiter.
    this.buf = CRLF;
    this.#reader = body.getReader();
  }

  async more(): Promise<boolean> {
    if (this.done) return false;
    const { value, done } = await this.#reader.read();
    if (done) {
      this.done = true;
      return false;
    }
    this.buf = concat(this.buf, value);
    return true;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** Read up to and past the next delimiter; false at the closing delimiter or end of body. */
async function skipToNextPart(src: Source, delimiter: Uint8Array): Promise<boolean> {
  for (;;) {
    const i = indexOf(src.buf, delimiter);
    if (i >= 0 && src.buf.length >= i + delimiter.length + 2) {
      const after = src.buf.subarray(i + delimiter.length, i + delimiter.length + 2);
      src.buf = src.buf.subarray(i + delimiter.length + 2);
      return !(after[0] === 45 && after[1] === 45); // "--": the closing delimiter
    }
    if (i < 0 && src.buf.length > delimiter.length) {
      src.buf = src.buf.subarray(src.buf.length - delimiter.length);
    }
    if (!(await src.more())) return false;
  }
}

/** The part's header block, parsed to its field name, file name and content type. */
async function readPartHeaders(
  src: Source,
): Promise<{ name: string | null; fileName: string | null; contentType: string | null }> {
  const end = encoder.encode("\r\n\r\n");
  for (;;) {
    // The delimiter line's CRLF was consumed, so headers start here; an empty block is "\r\n".
    if (src.buf.length >= 2 && src.buf[0] === 13 && src.buf[1] === 10) {
      src.buf = src.buf.subarray(2);
      return { name: null, fileName: null, contentType: null };
    }
    const i = indexOf(src.buf, end);
    if (i >= 0) {
      const text = new TextDecoder().decode(src.buf.subarray(0, i));
      src.buf = src.buf.subarray(i + 4);
      const disp = /^content-disposition:(.*)$/im.exec(text)?.[1] ?? "";
      const name = /;\s*name="([^"]*)"/i.exec(disp)?.[1] ?? null;
      const fileName = /;\s*filename="([^"]*)"/i.exec(disp)?.[1] ?? null;
      const contentType = /^content-type:\s*(.*?)\s*$/im.exec(text)?.[1] ?? null;
      return { name, fileName, contentType };
    }
    if (src.buf.length > HEADER_BLOCK_MAX) throw invalid("body: multipart part headers too long");
    if (!(await src.more())) throw invalid("body: truncated multipart/form-data");
  }
}

/** The current part's bytes as a stream ending at the next delimiter. */
function partBody(src: Source, delimiter: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const i = indexOf(src.buf, delimiter);
        if (i >= 0) {
          if (i > 0) controller.enqueue(src.buf.slice(0, i));
          controller.close();
          await src.cancel();
          return;
        }
        const keep = delimiter.length - 1;
        if (src.buf.length > keep) {
          controller.enqueue(src.buf.slice(0, src.buf.length - keep));
          src.buf = src.buf.subarray(src.buf.length - keep);
          if (!(await src.more())) throw invalid("body: truncated multipart/form-data");
          return;
        }
        if (!(await src.more())) throw invalid("body: truncated multipart/form-data");
      }
    },
    async cancel() {
      await src.cancel();
    },
  });
}

/**
 * Find the `field` part of a multipart body and return its bytes as a stream (not buffered).
 * 400 when the content type is not multipart or the field is missing.
 */
export async function streamMultipartField(
  body: ReadableStream<Uint8Array> | null,
  contentType: string | undefined,
  field: string,
): Promise<{ fileName: string | null; stream: ReadableStream<Uint8Array> }> {
  const boundary = multipartBoundary(contentType);
  if (!boundary || !body) throw invalid("body: expected multipart/form-data with a `file` field");
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  const src = new Source(body);
  while (await skipToNextPart(src, delimiter)) {
    const { name, fileName } = await readPartHeaders(src);
    if (name === field) return { fileName, stream: partBody(src, delimiter) };
  }
  await src.cancel();
  throw invalid(`${field}: a file field is required`);
}

// ---------------------------------------------------------------------------------------------
// A whole form, buffered within limits (document uploads: the extractor needs all the bytes).

export interface MultipartForm {
  /** The file part, or null when the form has none. */
  file: { fileName: string | null; contentType: string | null; bytes: Uint8Array } | null;
  /** The text fields asked for, each with its values in order. */
  fields: Map<string, string[]>;
}

/** The current part's bytes up to the next delimiter (left in the buffer), at most `max`. */
async function readPart(
  src: Source,
  delimiter: Uint8Array,
  max: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const take = (n: number) => {
    size += n;
    if (size > max) throw tooLarge();
    chunks.push(src.buf.slice(0, n));
    src.buf = src.buf.subarray(n);
  };
  for (;;) {
    const i = indexOf(src.buf, delimiter);
    if (i >= 0) {
      take(i);
      break;
    }
    if (src.buf.length >= delimiter.length) take(src.buf.length - (delimiter.length - 1));
    if (!(await src.more())) throw invalid("body: truncated multipart/form-data");
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (out.set(c, at), at += c.length);
  return out;
}

/**
 * Read a `multipart/form-data` body whole: the `fileField` part (its first occurrence) of at
 * most `maxFileBytes` (past it, `fileTooLarge()` is thrown as soon as it is passed), the
 * text `fields` asked for (at most 8 KiB each), at most 32 parts; other parts are skipped
 * unread. 400 when the body is not multipart.
 */
export async function readMultipartForm(
  body: ReadableStream<Uint8Array> | null,
  contentType: string | undefined,
  options: { fileField: string; fields: string[]; maxFileBytes: number; fileTooLarge: () => Error },
): Promise<MultipartForm> {
  const boundary = multipartBoundary(contentType);
  if (!boundary || !body) {
    throw invalid(`body: expected multipart/form-data with a \`${options.fileField}\` field`);
  }
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  const src = new Source(body);
  const form: MultipartForm = { file: null, fields: new Map() };
  try {
    let parts = 0;
    while (await skipToNextPart(src, delimiter)) {
      if (++parts > 32) throw invalid("body: more than 32 multipart parts");
      const { name, fileName, contentType } = await readPartHeaders(src);
      if (name === options.fileField && form.file === null) {
        const bytes = await readPart(src, delimiter, options.maxFileBytes, options.fileTooLarge);
        form.file = { fileName, contentType, bytes };
      } else if (name !== null && options.fields.includes(name)) {
        const value = await readPart(src, delimiter, 8192, () => invalid(`${name}: too long`));
        const values = form.fields.get(name) ?? [];
        if (values.length >= 64) throw invalid(`${name}: given more than 64 times`);
        form.fields.set(name, [...values, new TextDecoder().decode(value)]);
      }
    }
  } finally {
    await src.cancel();
  }
  return form;
}
