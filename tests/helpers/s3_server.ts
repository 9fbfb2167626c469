/**
 * A loopback S3-protocol server for tests: `s3rver` (npm, run under Node as a separate process
 * from the tools directory `.ci/run` installs from `tests/helpers/node_tools.json`), listening
 * on 127.0.0.1 on a free port, storing into a temp directory, with one bucket.
 *
 * s3rver 3.7.1 has no AbortMultipartUpload and no ListMultipartUploads (its routes answer
 * MethodNotAllowed / NotImplemented). The launcher below adds both to its own router, behind
 * its signature check, over its own on-disk upload directories, so that a client's abort and
 * the tests' "no unfinished upload left" check run against the protocol as S3 defines it.
 *
 * Per test: `await using s3 = await startS3Server();`. For a whole test run:
 * `deno run -A tests/helpers/s3_server.ts` prints `DUST_MCP_FILES_URL=...`,
 * `AWS_ACCESS_KEY_ID=...` and `AWS_SECRET_ACCESS_KEY=...` lines, then serves until SIGINT or
 * SIGTERM (its s3rver child also exits when this process dies: it watches its stdin pipe).
 * @module
 */
import { join } from "node:path";

/** s3rver's built-in account (its only one). */
export const S3RVER_ACCESS_KEY_ID = "S3RVER";
export const S3RVER_SECRET_ACCESS_KEY = "S3RVER";

export interface S3TestServer extends AsyncDisposable {
  /** An s3:// files URL with `endpoint` and `force_path_style=true`. */
  url: string;
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where s3rver keeps the bucket's files (removed by stop). */
  directory: string;
  stop(): Promise<void>;
}

/** The Node side: start s3rver, add the two missing multipart operations, print the port. */
const LAUNCHER = String.raw`
const fs = require("fs");
const path = require("path");
const S3rver = require("@20minutes/s3rver");
const router = require("@20minutes/s3rver/lib/routes");
const S3Error = require("@20minutes/s3rver/lib/models/error");

const { S3_DIR: directory, S3_BUCKET: bucket } = process.env;

function uploadsDir(ctx) {
  return ctx.store.getResourcePath(ctx.params.bucket, undefined, "uploads");
}

/** AbortMultipartUpload: DELETE /bucket/key?uploadId=ID */
async function abortUpload(ctx) {
  const id = String(ctx.query.uploadId);
  const dir = path.join(uploadsDir(ctx), id);
  if (!/^[0-9a-f]{32}$/.test(id) || !fs.existsSync(dir)) {
    throw new S3Error("NoSuchUpload", "The specified upload does not exist.", { UploadId: id });
  }
  await fs.promises.rm(dir, { recursive: true, force: true });
  ctx.status = 204;
}

/** ListMultipartUploads: GET /bucket?uploads[&prefix=P] (no paging: test scale). */
async function listUploads(ctx) {
  const root = uploadsDir(ctx);
  const prefix = ctx.query.prefix || "";
  const ids = await fs.promises.readdir(root).catch((e) => {
    if (e.code === "ENOENT") return [];
    throw e;
  });
  const uploads = [];
  for (const id of ids.sort()) {
    const key = await fs.promises.readFile(path.join(root, id, "key"), "utf8").catch(() => null);
    if (key === null || !key.startsWith(prefix)) continue;
    const { mtime } = await fs.promises.stat(path.join(root, id));
    uploads.push({ Key: key, UploadId: id, Initiated: mtime.toISOString() });
  }
  ctx.body = {
    ListMultipartUploadsResult: {
      "@": { xmlns: "http://s3.amazonaws.com/doc/2006-03-01/" },
      Bucket: ctx.params.bucket,
      Prefix: prefix,
      IsTruncated: false,
      Upload: uploads,
    },
  };
}

/** Route one query method of an existing route to our handler, after its auth and checks. */
function extendRoute(routePath, method, queryMethod, handler) {
  const layer = router.stack.find((l) => l.path === routePath && l.methods.includes(method));
  if (!layer) throw new Error("s3rver route not found: " + method + " " + routePath);
  const original = layer.stack[layer.stack.length - 1];
  layer.stack[layer.stack.length - 1] = (ctx, next) =>
    ctx.params.queryMethod === queryMethod ? handler(ctx) : original(ctx, next);
}
extendRoute("/:bucket/*key", "DELETE", "uploadId", abortUpload);
extendRoute("/:bucket", "GET", "uploads", listUploads);

const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
});
server.run().then(
  ({ port }) => process.stdout.write(JSON.stringify({ port }) + "\n"),
  (e) => {
    process.stderr.write(String(e && e.stack || e) + "\n");
    process.exit(1);
  },
);
// The parent holds our stdin: when it goes away (even killed), so do we.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** The tools directory `.ci/run` installs (`DUST_MCP_NODE_TOOLS`), or the same default. */
export function nodeToolsDir(): string {
  return Deno.env.get("DUST_MCP_NODE_TOOLS") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache/dust-mcp/node-tools/node_modules");
}

/** Read stdout up to the first newline (bounded: the launcher prints one short line). */
async function readFirstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n") && text.length < 4096) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text.split("\n")[0];
}

/** Start s3rver with one bucket in a fresh temp directory; `stop()` ends it and removes it. */
export async function startS3Server(
  options: { bucket?: string; prefix?: string } = {},
): Promise<S3TestServer> {
  const tools = nodeToolsDir();
  try {
    Deno.statSync(join(tools, "@20minutes/s3rver/package.json"));
  } catch {
    throw new Error(
      `s3rver is not installed in ${tools}: install tests/helpers/node_tools.json (see .ci/run)`,
    );
  }
  const bucket = options.bucket ?? "dust-mcp-test";
  const directory = await Deno.makeTempDir({ prefix: "dust-mcp-s3-" });
  const child = new Deno.Command("node", {
    // s3rver's ListObjectsV2 continuation tokens are DES-encrypted: OpenSSL 3 keeps DES in
    // its legacy provider.
    args: ["--openssl-legacy-provider", "-e", LAUNCHER],
    env: { NODE_PATH: tools, S3_DIR: directory, S3_BUCKET: bucket },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await stdin.close().catch(() => {});
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await child.status;
      clearTimeout(timer);
      await Deno.remove(directory, { recursive: true }).catch(() => {});
    })();
  let port: number;
  try {
    const line = await readFirstLine(child.stdout);
    port = JSON.parse(line || "{}").port;
    if (!Number.isInteger(port)) throw new Error(`s3rver did not start (printed ${line})`);
  } catch (e) {
    await stop();
    throw e;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const path = options.prefix ? `/${options.prefix}` : "";
  const url = `s3://${bucket}${path}?endpoint=${endpoint}&region=us-east-1&force_path_style=true`;
  return {
    url,
    endpoint,
    bucket,
    accessKeyId: S3RVER_ACCESS_KEY_ID,
    secretAccessKey: S3RVER_SECRET_ACCESS_KEY,
    directory,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

if (import.meta.main) {
  const s3 = await startS3Server();
  console.log(`DUST_MCP_FILES_URL=${s3.url}`);
  console.log(`AWS_ACCESS_KEY_ID=${s3.accessKeyId}`);
  console.log(`AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`);
  const done = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGINT", () => done.resolve());
  Deno.addSignalListener("SIGTERM", () => done.resolve());
  await done.promise;
  await s3.stop();
  Deno.exit(0);
}
