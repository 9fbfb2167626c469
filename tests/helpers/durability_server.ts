/**
 * The durability suite's server: the real program as a child process (`deno run main.ts`, the
 * permissions of `deno task start`) on a fixed port and data directory, so it can be killed
 * with SIGKILL and restarted on the same data with the same public URL (tokens name it).
 * Plus the operator CLI setup of a data directory and the post-mortem disk checks.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { runCli } from "../../src/cli.ts";
import { captureIo } from "../cli/capture_io.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The permissions of `deno task start`. */
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"];

/** The low end of the kernel's ephemeral port range (port-0 binds and client sockets). */
function ephemeralLow(): number {
  try {
    const range = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    return Number(range.trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/**
 * A port free right now on 127.0.0.1, BELOW the ephemeral range: the server is restarted on
 * the same port after each kill, and a port the kernel never hands out for port-0 binds
 * (other tests' servers, running in parallel) or client sockets cannot be taken meanwhile.
 */
export function freePort(): number {
  const high = Math.min(ephemeralLow(), 65536) - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * Math.max(1, high - 20_000));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // Taken: try another.
    }
  }
  throw new Error("no free port below the ephemeral range");
}

/** One running server process; `kill()` is SIGKILL, `stop()` SIGTERM (clean stop). */
export class ServerProcess {
  #stderr = "";
  readonly #drained: Promise<void>;
  /** Resolves "up" once the banner shows, "exited" if stderr ends first. */
  readonly #banner: Promise<"up" | "exited">;

  private constructor(readonly child: Deno.ChildProcess, readonly url: string) {
    let seen!: (v: "up" | "exited") => void;
    this.#banner = new Promise((r) => (seen = r));
    this.#drained = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr += chunk;
        if (/serving region us-central1 on /.test(this.#stderr)) seen("up");
      }
      seen("exited");
    })();
  }

  /**
   * Spawn `main.ts serve` without waiting for it (stderr is read in the background);
   * `flags` adds command-line options (e.g. a model endpoint).
   */
  static spawn(dataDir: string, port: number, flags: Record<string, string> = {}): ServerProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...PERMISSIONS,
        join(ROOT, "main.ts"),
        "--data-dir",
        dataDir,
        "--port",
        String(port),
        "--host",
        "127.0.0.1",
        "--public-url",
        `http://127.0.0.1:${port}`,
        "--region",
        "us",
        "--log-level",
        "error",
        ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v]),
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    return new ServerProcess(child, `http://127.0.0.1:${port}`);
  }

  /**
   * Start `main.ts serve` and wait (bounded) for its banner. A port still held by the killed
   * predecessor's sockets is retried a few times.
   */
  static async start(
    dataDir: string,
    port: number,
    flags: Record<string, string> = {},
  ): Promise<ServerProcess> {
    let lastOutput = "";
    for (let attempt = 1; attempt <= 5; attempt++) {
      const proc = ServerProcess.spawn(dataDir, port, flags);
      if (await proc.waitUntilUp(30_000)) return proc;
      lastOutput = proc.#stderr;
      await proc.kill();
      if (!/AddrInUse|address already in use/i.test(lastOutput)) break;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
    throw new Error(`server did not start on port ${port}:\n${lastOutput}`);
  }

  /** True once the banner shows; false if the process ends or `timeoutMs` passes first. */
  async waitUntilUp(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((
      r,
    ) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
    const outcome = await Promise.race([this.#banner, timeout]);
    clearTimeout(timer);
    return outcome === "up";
  }

  /** What the process wrote on stderr (its banner and any error). */
  get stderr(): string {
    return this.#stderr;
  }

  /** SIGKILL: no shutdown code runs, exactly as a crash or an OOM kill. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.child.status;
    await this.#drained;
  }

  /** SIGTERM: the clean stop; returns the exit code. */
  async stop(): Promise<number> {
    this.child.kill("SIGTERM");
    const { code } = await this.child.status;
    await this.#drained;
    return code;
  }
}

/** Credentials of a data directory prepared with the operator CLI. */
export interface DurabilitySetup {
  workspaceSId: string;
  adminEmail: string;
  adminPassword: string;
  /** Personal access tokens (REST) of the admin and of a plain member. */
  adminToken: string;
  memberToken: string;
  apiKey: string;
  /** MCP tokens of the admin (replaced under load) and of the member (calls tools). */
  mcpToken: string;
  memberMcpToken: string;
}

async function cli(args: string[], stdin = ""): Promise<string> {
  const io = captureIo(stdin);
  const code = await runCli(args, io, {});
  assert.equal(code, 0, `${args.join(" ")}: ${io.stderr.join("\n")}`);
  return io.stdout.join("\n").trim();
}

/** Users, a workspace, a member, an API key, personal tokens and an MCP token, via the CLI. */
export async function prepareDataDir(dataDir: string): Promise<DurabilitySetup> {
  const d = ["--data-dir", dataDir];
  const adminEmail = "admin@durability.test";
  const adminPassword = "durable horse battery staple";
  await cli(["users", "create", "--email", adminEmail, "--name", "Admin", ...d], adminPassword);
  await cli(
    ["users", "create", "--email", "member@durability.test", "--name", "M", ...d],
    "member password 1",
  );
  const workspaceSId = await cli([
    "workspaces",
    "create",
    "--name",
    "Durable",
    "--admin",
    adminEmail,
    ...d,
  ]);
  await cli([
    "members",
    "add",
    "--workspace",
    workspaceSId,
    "--email",
    "member@durability.test",
    "--role",
    "user",
    ...d,
  ]);
  const token = (email: string) =>
    cli([
      "personal-tokens",
      "create",
      "--workspace",
      workspaceSId,
      "--email",
      email,
      "--name",
      "load",
      ...d,
    ]);
  const mcpToken = (email: string) =>
    cli(["mcp-tokens", "create", "--workspace", workspaceSId, "--email", email, ...d]);
  return {
    workspaceSId,
    adminEmail,
    adminPassword,
    adminToken: await token(adminEmail),
    memberToken: await token("member@durability.test"),
    apiKey: await cli(["api-keys", "create", "--workspace", workspaceSId, "--name", "load", ...d]),
    mcpToken: await mcpToken(adminEmail),
    memberMcpToken: await mcpToken("member@durability.test"),
  };
}

/** What the post-mortem look at a data directory found. */
export interface DiskReport {
  integrity: string[];
  foreignKeyViolations: number;
  /** FTS5 `integrity-check` of the search index against its content table: "ok" or the error. */
  searchIndex: string;
  readyFiles: number;
  /** Active (not revoked) MCP tokens per user and workspace: one each, never more. */
  activeMcpTokens: number[];
  /** The `podId` argument of every audited `get_pod` call (the load's tool-call probes). */
  auditedPodIds: Set<string>;
  /** Ready rows whose blob is missing or of another size than the row says. */
  badBlobs: string[];
  /** Blobs no row points to (a crash between the rename and the row update leaves one). */
  orphanBlobs: string[];
  /** Leftover `files/tmp` entries (a restart must clear them). */
  tempFiles: string[];
  /** sha256 (hex) of each ready file's blob, by file sId. */
  blobHashes: Map<string, string>;
}

async function listBlobs(filesDir: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const fan of Deno.readDir(filesDir)) {
    if (!fan.isDirectory || fan.name === "tmp") continue;
    for await (const f of Deno.readDir(join(filesDir, fan.name))) {
      keys.push(`${fan.name}/${f.name}`);
    }
  }
  return keys;
}

async function listTemp(filesDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(filesDir, "tmp"))) names.push(e.name);
  return names;
}

/**
 * `PRAGMA integrity_check` (its lines; ["ok"] when sound) and the number of
 * `PRAGMA foreign_key_check` violations, on a read-only connection (the server is down).
 */
export function checkDatabase(dataDir: string): {
  integrity: string[];
  foreignKeyViolations: number;
} {
  const db = new DatabaseSync(join(dataDir, "dust-mcp.db"), { readOnly: true });
  try {
    const integrity = (db.prepare("PRAGMA integrity_check").all() as {
      integrity_check: string;
    }[]).map((r) => r.integrity_check);
    return { integrity, foreignKeyViolations: db.prepare("PRAGMA foreign_key_check").all().length };
  } finally {
    db.close();
  }
}

/**
 * Open the database read-only (the server is down: killed or stopped) and check it and the
 * files directory: `integrity_check`, `foreign_key_check`, every ready row's blob present with
 * the row's size, orphans and temp files listed.
 */
export async function inspectDataDir(dataDir: string): Promise<DiskReport> {
  const { integrity, foreignKeyViolations } = checkDatabase(dataDir);
  const db = new DatabaseSync(join(dataDir, "dust-mcp.db"), { readOnly: true });
  let rows: { s_id: string; storage_key: string; file_size: number }[];
  let activeMcpTokens: number[];
  let auditedPodIds: Set<string>;
  try {
    rows = db.prepare(
      "SELECT s_id, storage_key, file_size FROM files WHERE status = 'ready' AND storage_key IS NOT NULL",
    ).all() as typeof rows;
    activeMcpTokens = (db.prepare(
      `SELECT count(*) AS n FROM mcp_tokens WHERE revoked_at IS NULL
       GROUP BY user_id, workspace_id ORDER BY user_id`,
    ).all() as { n: number }[]).map((r) => Number(r.n));
    auditedPodIds = new Set(
      (db.prepare("SELECT arguments FROM audit_log WHERE tool = 'get_pod'").all() as {
        arguments: string;
      }[]).map((r) => String(JSON.parse(r.arguments).podId)),
    );
  } finally {
    db.close();
  }
  const filesDir = join(dataDir, "files");
  const blobs = new Set(await listBlobs(filesDir));
  const badBlobs: string[] = [];
  const blobHashes = new Map<string, string>();
  for (const r of rows) {
    const bytes = await Deno.readFile(join(filesDir, r.storage_key)).catch(() => null);
    if (!bytes || bytes.length !== r.file_size) {
      badBlobs.push(
        `${r.s_id}: ${
          bytes ? `${bytes.length} bytes on disk` : "no blob"
        }, row says ${r.file_size}`,
      );
      continue;
    }
    blobHashes.set(r.s_id, createHash("sha256").update(bytes).digest("hex"));
    blobs.delete(r.storage_key);
  }
  return {
    integrity,
    foreignKeyViolations,
    searchIndex: await checkSearchIndex(dataDir),
    readyFiles: rows.length,
    activeMcpTokens,
    auditedPodIds,
    badBlobs,
    orphanBlobs: [...blobs],
    tempFiles: await listTemp(filesDir),
    blobHashes,
  };
}

/**
 * FTS5's own integrity check (rank 1: the index against `document_chunks`, so a chunk written
 * without its index entries or the reverse shows). It needs a writable connection, so it runs
 * on a copy of the database and its WAL: the original stays as the crash left it.
 */
async function checkSearchIndex(dataDir: string): Promise<string> {
  const copy = await Deno.makeTempDir({ prefix: "dust-mcp-durability-copy-" });
  try {
    for (const suffix of ["", "-wal"]) {
      await Deno.copyFile(join(dataDir, `dust-mcp.db${suffix}`), join(copy, `dust-mcp.db${suffix}`))
        .catch((e) => {
          if (!(suffix && e instanceof Deno.errors.NotFound)) throw e;
        });
    }
    const db = new DatabaseSync(join(copy, "dust-mcp.db"));
    try {
      db.exec(
        "INSERT INTO document_chunks_fts(document_chunks_fts, rank) VALUES ('integrity-check', 1)",
      );
      return "ok";
    } catch (e) {
      return String(e);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
}

/** The temp entries of a data directory's files dir (checked right after a restart). */
export function tempFilesOf(dataDir: string): Promise<string[]> {
  return listTemp(join(dataDir, "files"));
}
