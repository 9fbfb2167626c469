/**
 * File bytes in any S3-compatible object store (AWS S3, MinIO, Ceph, R2, Garage, ...), one object
 * per storage key under an optional prefix of one bucket. Requests are signed by `aws4fetch`
 * (a small SigV4 signer over `fetch`; the AWS SDK would cost megabytes and start-up time, and
 * its default aws-chunked bodies are refused by several S3-compatible servers).
 *
 * Atomic visibility is S3's own: a PUT or a completed multipart upload appears whole or not at
 * all. Bodies up to one part go in one PUT; longer streams go in a multipart upload of parts
 * read one at a time (memory per upload bounded by the part size), completed only after every
 * part, aborted on any failure, the source stream's included.
 * @module
 */
import {
  assertStorageKey,
  type BlobStore,
  MAX_LISTED_KEYS,
  newStorageKey,
  STORAGE_KEY_PATTERN,
} from "./blob_store.ts";
import { bytesParts, type PartSource, streamParts } from "./part_reader.ts";
import {
  errorOf,
  MAX_ATTEMPTS,
  S3Error,
  S3Requester,
  type S3RequestSpec,
  xmlBlocks,
  xmlEscape,
  xmlText,
} from "./s3_request.ts";
import { parseS3Url, type S3Location } from "./s3_url.ts";

export { parseS3Url, S3Error, type S3Location };

/** Credentials, passed in by the caller (from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN); this module reads no environment. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3FilesOptions {
  credentials: S3Credentials;
  /** Keys per ListObjectsV2 page (1..1000, default 1000). */
  pageSize?: number;
  /** Wait for a response's headers, per attempt (default 120 s: one part's upload fits). */
  requestTimeoutMs?: number;
  /** Sign each body's SHA-256 so the store verifies the bytes (default: over http only; over
   * https TLS already guards them, and the hash is one more pass over every byte). */
  signPayload?: boolean;
}

/** Bytes per multipart part, and the largest body sent in one PUT. */
export const PART_SIZE = 8 * 1024 * 1024;
/** S3's limit on parts per upload (at 8 MiB: 80 GiB per blob). */
const MAX_PARTS = 10_000;
/** Bound on ListObjectsV2 pages in one listing, whatever the bucket holds. */
const MAX_LIST_PAGES = 20_000;

/** An unfinished multipart upload under the prefix. */
export interface S3Upload {
  key: string;
  uploadId: string;
  initiated: Date;
}

export class S3Files implements BlobStore {
  readonly kind = "s3";
  readonly location: S3Location;
  readonly #requests: S3Requester;
  readonly #pageSize: number;

  constructor(location: S3Location, options: S3FilesOptions) {
    const { accessKeyId, secretAccessKey } = options.credentials;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error("S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    }
    const pageSize = options.pageSize ?? 1000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new Error("pageSize must be an integer from 1 to 1000");
    }
    this.location = location;
    this.#pageSize = pageSize;
    this.#requests = new S3Requester(options.credentials, {
      region: location.region,
      timeoutMs: options.requestTimeoutMs ?? 120_000,
      signPayload: options.signPayload ?? location.endpoint.startsWith("http:"),
    });
  }

  /** Check the bucket answers a listing under the prefix with these credentials. Listing is
   * required anyway: the orphan sweep needs it, and without it S3 answers a missing key with
   * 403 AccessDenied instead of 404 NoSuchKey. */
  async init(): Promise<void> {
    const { bucket, endpoint } = this.location;
    try {
      await this.#list(undefined, 1);
    } catch (e) {
      if (!(e instanceof S3Error)) throw e;
      throw new Error(`bucket "${bucket}" at ${endpoint} is not usable: ${e.message}`);
    }
  }

  newKey(): string {
    return newStorageKey();
  }

  /** Store `bytes` under `key`: one PUT up to PART_SIZE, else a multipart upload. */
  async write(key: string, bytes: Uint8Array | ReadableStream<Uint8Array>): Promise<number> {
    const url = this.#objectUrl(key);
    const parts = bytes instanceof Uint8Array
      ? bytesParts(bytes, PART_SIZE)
      : streamParts(bytes, PART_SIZE);
    try {
      const first = (await parts.next())!;
      if (!(await parts.hasMore())) {
        await this.#sendEmpty("PutObject", "PUT", url, {
          body: first,
          retry: "any",
          headers: { "content-type": "application/octet-stream" },
        });
        return first.length;
      }
      return await this.#writeMultipart(url, first, parts);
    } catch (e) {
      await parts.cancel(e);
      throw e;
    }
  }

  /** The whole blob; a missing key rejects with Deno.errors.NotFound. */
  async read(key: string): Promise<Uint8Array> {
    const response = await this.#get(key);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** The GET response body, unbuffered; a missing key rejects with Deno.errors.NotFound. */
  async readStream(key: string): Promise<ReadableStream<Uint8Array>> {
    const response = await this.#get(key);
    return response.body ?? ReadableStream.from<Uint8Array>([]);
  }

  /** DELETE the object; S3 answers 204 for a missing key too (some servers 404: also fine). */
  async remove(key: string): Promise<void> {
    const url = this.#objectUrl(key);
    await this.#sendEmpty("DeleteObject", "DELETE", url, { retry: "any", accept: [404] });
  }

  /** ListObjectsV2 under the prefix, page by page; see BlobStore.listKeys. */
  async listKeys(
    options: { max?: number; olderThanMs?: number } = {},
  ): Promise<{ keys: string[]; complete: boolean }> {
    const max = options.max ?? MAX_LISTED_KEYS;
    const cutoff = options.olderThanMs === undefined ? undefined : Date.now() - options.olderThanMs;
    const keys: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const listing = await this.#list(token, this.#pageSize);
      for (const { key, lastModified } of listing.objects) {
        if (!STORAGE_KEY_PATTERN.test(key)) continue;
        if (cutoff !== undefined && !(lastModified < cutoff)) continue;
        if (keys.length >= max) return { keys, complete: false };
        keys.push(key);
      }
      if (!listing.next) return { keys, complete: true };
      token = listing.next;
    }
    return { keys, complete: false };
  }

  /** True when anything at all is stored under the prefix, shaped like a key or not
   * (`migrate-data` copies only into an empty prefix). */
  async hasObjects(): Promise<boolean> {
    return (await this.#list(undefined, 1)).objects.length > 0;
  }

  /** Unfinished multipart uploads under the prefix (ListMultipartUploads, first 1000). */
  async listUploads(): Promise<S3Upload[]> {
    const url = this.#bucketUrl({ uploads: "", prefix: this.location.prefix });
    const xml = await this.#sendText("ListMultipartUploads", "GET", url, { retry: "any" });
    return xmlBlocks(xml, "Upload").map((u) => ({
      key: (xmlText(u, "Key") ?? "").slice(this.location.prefix.length),
      uploadId: xmlText(u, "UploadId") ?? "",
      initiated: new Date(xmlText(u, "Initiated") ?? 0),
    }));
  }

  /**
   * Abort the unfinished multipart uploads under the prefix started more than `olderThanMs`
   * ago: what an instance that died mid-upload leaves (invisible, but stored and billed).
   * Returns how many were aborted. The margin must exceed the slowest upload.
   */
  async abortStaleUploads(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let aborted = 0;
    for (const upload of await this.listUploads()) {
      if (!(upload.initiated.getTime() < cutoff) || !STORAGE_KEY_PATTERN.test(upload.key)) continue;
      await this.#abortUpload(this.#objectUrl(upload.key), upload.uploadId);
      aborted++;
    }
    return aborted;
  }

  async close(): Promise<void> {
    this.#requests.close();
    await Promise.resolve();
  }

  /** Upload `first` and the rest of `parts`, then complete; abort on any failure. */
  async #writeMultipart(url: URL, first: Uint8Array, parts: PartSource): Promise<number> {
    const createUrl = withQuery(url, { uploads: "" });
    const created = await this.#sendText("CreateMultipartUpload", "POST", createUrl, {
      retry: "answered",
      headers: { "content-type": "application/octet-stream" },
    });
    const uploadId = xmlText(created, "UploadId");
    if (!uploadId) throw new S3Error("CreateMultipartUpload", 200, "MalformedResponse", "");
    try {
      const etags: string[] = [];
      let size = 0;
      for (let part: Uint8Array | null = first; part !== null; part = await parts.next()) {
        if (etags.length >= MAX_PARTS) throw new Error("blob too large for one multipart upload");
        const partUrl = withQuery(url, { partNumber: String(etags.length + 1), uploadId });
        const headers = await this.#sendEmpty("UploadPart", "PUT", partUrl, {
          body: part,
          retry: "any",
        });
        const etag = headers.get("etag");
        if (!etag) throw new S3Error("UploadPart", 200, "MalformedResponse", "no ETag");
        etags.push(etag);
        size += part.length;
      }
      await this.#completeUpload(url, uploadId, etags);
      return size;
    } catch (e) {
      // Best effort: the original failure is the one to report.
      await this.#abortUpload(url, uploadId).catch(() => {});
      throw e;
    }
  }

  /** AbortMultipartUpload; an upload already gone (404 NoSuchUpload) is fine. */
  async #abortUpload(url: URL, uploadId: string): Promise<void> {
    await this.#sendEmpty("AbortMultipartUpload", "DELETE", withQuery(url, { uploadId }), {
      retry: "any",
      accept: [404],
    });
  }

  /** CompleteMultipartUpload; S3 may answer 200 with an error body, retried when transient. */
  async #completeUpload(url: URL, uploadId: string, etags: string[]): Promise<void> {
    const body = new TextEncoder().encode(
      `<CompleteMultipartUpload>${
        etags.map((etag, i) =>
          `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`
        ).join("")
      }</CompleteMultipartUpload>`,
    );
    const completeUrl = withQuery(url, { uploadId });
    for (let attempt = 1;; attempt++) {
      const xml = await this.#sendText("CompleteMultipartUpload", "POST", completeUrl, {
        body,
        retry: "answered",
      });
      const code = xmlText(xml, "Code");
      if (!/<Error>/.test(xml) || code === null) return;
      const failure = new S3Error(
        "CompleteMultipartUpload",
        200,
        code,
        xmlText(xml, "Message") ?? "",
      );
      if (!["InternalError", "SlowDown", "ServiceUnavailable"].includes(code)) throw failure;
      if (attempt >= MAX_ATTEMPTS) throw failure;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }

  /** GET an object; 404 NoSuchKey becomes Deno.errors.NotFound as for a local file. */
  async #get(key: string): Promise<Response> {
    const response = await this.#send("GetObject", "GET", this.#objectUrl(key), {
      retry: "any",
      accept: [404],
    });
    if (response.status !== 404) return response;
    const failure = await errorOf("GetObject", response);
    if (failure.code !== "NoSuchKey") throw failure; // e.g. NoSuchBucket
    throw new Deno.errors.NotFound(`storage key not found: ${key}`);
  }

  /** One ListObjectsV2 page under the prefix. */
  async #list(token: string | undefined, maxKeys: number) {
    const query: Record<string, string> = {
      "list-type": "2",
      prefix: this.location.prefix,
      "max-keys": String(maxKeys),
    };
    if (token) query["continuation-token"] = token;
    const xml = await this.#sendText("ListObjectsV2", "GET", this.#bucketUrl(query), {
      retry: "any",
    });
    const objects = xmlBlocks(xml, "Contents").flatMap((c) => {
      const name = xmlText(c, "Key");
      if (name === null || !name.startsWith(this.location.prefix)) return [];
      const lastModified = Date.parse(xmlText(c, "LastModified") ?? "");
      return [{ key: name.slice(this.location.prefix.length), lastModified }];
    });
    const truncated = xmlText(xml, "IsTruncated") === "true";
    const next = truncated ? xmlText(xml, "NextContinuationToken") : null;
    if (truncated && !next) {
      throw new S3Error("ListObjectsV2", 200, "MalformedResponse", "truncated without a token");
    }
    return { objects, next };
  }

  #send(
    operation: string,
    method: S3RequestSpec["method"],
    url: URL,
    rest: Pick<S3RequestSpec, "body" | "headers" | "retry" | "accept">,
  ): Promise<Response> {
    return this.#requests.send({ operation, method, url, ...rest });
  }

  /** Send, drop the answer's body (so its connection is free again), hand back its headers. */
  async #sendEmpty(
    operation: string,
    method: S3RequestSpec["method"],
    url: URL,
    rest: Pick<S3RequestSpec, "body" | "headers" | "retry" | "accept">,
  ): Promise<Headers> {
    const response = await this.#send(operation, method, url, rest);
    await response.body?.cancel();
    return response.headers;
  }

  /** Send and read the (bounded by S3: listings of at most 1000 entries) XML answer. */
  async #sendText(
    operation: string,
    method: S3RequestSpec["method"],
    url: URL,
    rest: Pick<S3RequestSpec, "body" | "headers" | "retry">,
  ): Promise<string> {
    return await (await this.#send(operation, method, url, rest)).text();
  }

  /** The object's URL (the key checked first). */
  #objectUrl(key: string): URL {
    assertStorageKey(key);
    return new URL(`${this.#bucketBase()}/${this.location.prefix}${key}`);
  }

  /** The bucket's URL, as the SDKs send it: `endpoint/bucket` or `scheme://bucket.host/`. */
  #bucketUrl(query: Record<string, string>): URL {
    return withQuery(new URL(this.#bucketBase()), query);
  }

  /** `endpoint/bucket` (path style) or `scheme://bucket.host` (virtual-hosted style; not for a
   * dotted bucket name, which a TLS wildcard certificate would not cover, as the SDKs do). */
  #bucketBase(): string {
    const { endpoint, bucket, forcePathStyle } = this.location;
    if (forcePathStyle || bucket.includes(".")) return `${endpoint}/${bucket}`;
    const u = new URL(endpoint);
    return `${u.protocol}//${bucket}.${u.host}`;
  }
}

function withQuery(url: URL, query: Record<string, string>): URL {
  const out = new URL(url);
  for (const [k, v] of Object.entries(query)) out.searchParams.set(k, v);
  return out;
}
