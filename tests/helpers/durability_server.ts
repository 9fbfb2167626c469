/**
 * The durability suite's server: the real program as a child process (`deno run main.ts`, the
 * permissions of `deno task start`) on a fixed port and data directory, so it can be killed
 * with SIGKILL and restarted on the same data with the same public URL (tokens name it).
 * Plus the operator CLI setup of a data directory (disk checks: durability_disk.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

/** How to spawn: the public URL (default: the process's own address). */
export interface SpawnOptions {
  publicUrl?: string;
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
   * `flags` adds command-line options (e.g. a model endpoint), `env` environment variables
   * (e.g. the AWS credentials of a `files-url`).
   */
  static spawn(
    dataDir: string,
    port: number,
    flags: Record<string, string> = {},
    env: Record<string, string> = {},
    options: SpawnOptions = {},
  ): ServerProcess {
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
        options.publicUrl ?? `http://127.0.0.1:${port}`,
        "--region",
        "us",
        "--log-level",
        "error",
        ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v]),
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
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
    env: Record<string, string> = {},
    options: SpawnOptions = {},
  ): Promise<ServerProcess> {
    let lastOutput = "";
    for (let attempt = 1; attempt <= 5; attempt++) {
      const proc = ServerProcess.spawn(dataDir, port, flags, env, options);
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
    let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
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

async function cliIn(
  args: string[],
  stdin = "",
  env: Record<string, string> = {},
): Promise<string> {
  const io = captureIo(stdin);
  const code = await runCli(args, io, env);
  assert.equal(code, 0, `${args.join(" ")}: ${io.stderr.join("\n")}`);
  return io.stdout.join("\n").trim();
}

/**
 * Users, a workspace, a member, an API key, personal tokens and an MCP token, via the CLI;
 * `env` points it at the data directory's database (PostgreSQL: `durabilityEnv`).
 */
export async function prepareDataDir(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<DurabilitySetup> {
  const d = ["--data-dir", dataDir];
  const cli = (args: string[], stdin = "") => cliIn(args, stdin, env);
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
