/**
 * The files URL of an S3-compatible store:
 * `s3://bucket/optional/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&force_path_style=true`.
 * Errors name what is wrong and never echo credentials.
 * @module
 */

/** Where blobs live: one bucket, under a prefix, at an endpoint. */
export interface S3Location {
  bucket: string;
  /** "" or segments ending with "/" (e.g. "dust/files/"): prepended to every key. */
  prefix: string;
  /** The store's origin, e.g. `http://127.0.0.1:9000`; AWS's regional endpoint by default. */
  endpoint: string;
  region: string;
  /** `endpoint/bucket/key` rather than `bucket.endpoint/key` (MinIO and most self-hosted
   * stores want true; AWS accepts both). */
  forcePathStyle: boolean;
}

const PARAMETERS = ["endpoint", "region", "force_path_style"];
/** AWS's rule for new buckets: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit. */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT_PATTERN = /^[A-Za-z0-9._-]+$/;
const REGION_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Parse and check a files URL; throws an Error saying what is wrong. */
export function parseS3Url(text: string): S3Location {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error("not a URL: expected s3://bucket/optional/prefix?endpoint=...&region=...");
  }
  if (url.protocol !== "s3:") {
    throw new Error(`expected an s3:// URL, got ${JSON.stringify(url.protocol + "//")}`);
  }
  if (url.username || url.password) {
    throw new Error(
      "credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    );
  }
  if (url.hash) throw new Error("the URL must not have a #fragment");
  if (url.port) {
    throw new Error("no port after the bucket: give the server as ?endpoint=http://host:port");
  }
  const bucket = url.hostname;
  if (!bucket) throw new Error("no bucket: expected s3://bucket/...");
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes("..")) {
    throw new Error(
      `bucket ${
        JSON.stringify(bucket)
      } is not a valid name (3-63 characters: lowercase letters, digits, '.', '-')`,
    );
  }
  const params = readParameters(url.searchParams);
  const region = params.get("region") ?? "us-east-1";
  if (!REGION_PATTERN.test(region)) {
    throw new Error(`region ${JSON.stringify(region)} is not a region name such as us-east-1`);
  }
  return {
    bucket,
    // The path as written: URL parsing would silently resolve "a/../b" and "%2e%2e" to "b".
    prefix: parsePrefix(/^s3:\/\/[^/?#]*([^?#]*)/i.exec(text)?.[1] ?? ""),
    endpoint: params.has("endpoint")
      ? parseEndpoint(params.get("endpoint")!)
      : `https://s3.${region}.amazonaws.com`,
    region,
    forcePathStyle: parseBoolean(params.get("force_path_style") ?? "false"),
  };
}

function readParameters(search: URLSearchParams): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of search) {
    if (!PARAMETERS.includes(name)) {
      throw new Error(
        `unknown parameter ${JSON.stringify(name)} (known: ${PARAMETERS.join(", ")})`,
      );
    }
    if (params.has(name)) throw new Error(`parameter ${name} is given twice`);
    params.set(name, value);
  }
  return params;
}

/** "/a/b/" or "/a/b" -> "a/b/"; "" or "/" -> "". */
function parsePrefix(pathname: string): string {
  const trimmed = pathname.replace(/^\//, "").replace(/\/$/, "");
  if (trimmed === "") return "";
  for (const segment of trimmed.split("/")) {
    if (!PREFIX_SEGMENT_PATTERN.test(segment) || segment === "." || segment === "..") {
      throw new Error(
        `prefix segment ${
          JSON.stringify(segment)
        } is refused (letters, digits, '.', '_', '-'; no empty, '.' or '..' segments)`,
      );
    }
  }
  return `${trimmed}/`;
}

function parseEndpoint(value: string): string {
  const hint = "endpoint must be an http:// or https:// origin such as http://127.0.0.1:9000";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(hint);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(hint);
  if (url.username || url.password) {
    throw new Error("endpoint: credentials do not belong in the URL");
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new Error(`${hint} (no path or query)`);
  }
  return url.origin;
}

function parseBoolean(value: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new Error(`force_path_style must be true or false, got ${JSON.stringify(value)}`);
}
