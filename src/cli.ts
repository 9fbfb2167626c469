/**
 * The command line: `serve` (the default) and the operator commands that work on the data
 * directory. Operator commands open the same SQLite database (WAL + busy timeout), so they are
 * safe while the server runs — except `migrate-data`, which needs the instance stopped and
 * refuses otherwise. Bad flags exit 2 with a one-line reason.
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Config,
  ConfigError,
  readEnv,
  resolveConfig,
  settingOptions,
  settingsHelp,
  StartError,
  twoColumns,
} from "./config.ts";
import { VERSION } from "./version.ts";
import { openBlobStore, openConfiguredDatabase, startServer } from "./server.ts";
import { type LogSink, stdoutSink } from "./util/log.ts";
import { AppError } from "./errors.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { createUser, findUserByEmail, type UserRow } from "./core/users.ts";
import {
  addMember,
  createWorkspace,
  findWorkspaceBySId,
  getRole,
  parseRole,
  type WorkspaceRow,
} from "./core/workspaces.ts";
import { insertApiKey, listWorkspaceApiKeys, revokeWorkspaceApiKey } from "./core/api_keys.ts";
import { issuePersonalToken } from "./core/personal_tokens.ts";
import { issueMcpToken } from "./core/mcp_tokens.ts";
import { exportAuditJsonl } from "./core/audit_views.ts";
import { sqlitePath } from "./db/open.ts";
import type { S3Files } from "./storage/s3_files.ts";
import { rotateSigningKey } from "./core/signing_keys.ts";
import { DOCTOR_FLAGS } from "./doctor/clients.ts";

/** Where command output goes (tests capture it). */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Read all of standard input (for passwords). */
  readStdin(): Promise<string>;
  /** Read the first line of standard input, without waiting for its end (a pasted token). */
  readStdinLine?(): Promise<string>;
}

export const stdIo: Io = {
  out: (l) => console.log(l),
  err: (l) => console.error(l),
  readStdin: async () => await new Response(Deno.stdin.readable).text(),
  readStdinLine: async () => await readFirstLine(Deno.stdin.readable),
};

/** Text up to the first newline of `stream` (at most 64 KiB), then the stream is let go. */
async function readFirstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("\n") && text.length < 65_536) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return text.split(/\r?\n/)[0];
}

type Flags = Record<string, string | boolean | undefined>;

export interface Command {
  /** Words after the program name, e.g. `["users", "create"]`. */
  words: string[];
  summary: string;
  /** Command-specific string flags: name → help. Every flag is required unless in `optional`. */
  flags: Record<string, string>;
  optional?: string[];
  /** Takes what follows `--` (commands to start): its usage, e.g. `-- <command> [args…]`. */
  passthrough?: string;
  run(ctx: {
    config: Config;
    flags: Flags;
    io: Io;
    db: () => Promise<Db>;
    /** The words after `--`, when the command takes them. */
    passthrough: string[];
  }): Promise<number>;
}

/** Exit code 2 with a one-line reason. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The workspace `--workspace` names; a value naming no workspace is a usage error (exit 2). */
async function workspaceFlag(db: Db, flags: Flags): Promise<WorkspaceRow> {
  const ws = await findWorkspaceBySId(db, String(flags.workspace));
  if (!ws) throw new UsageError(`--workspace: no workspace with id ${flags.workspace}`);
  return ws;
}

/** The user a flag (`--email`, `--admin`) names; naming no user is a usage error (exit 2). */
async function userFlag(db: Db, flags: Flags, flag = "email"): Promise<UserRow> {
  const user = await findUserByEmail(db, String(flags[flag]));
  if (!user) throw new UsageError(`no user with email ${flags[flag]}`);
  return user;
}

async function readPassword(io: Io): Promise<string> {
  const raw = await io.readStdin();
  const password = raw.replace(/\r?\n$/, "");
  if (!password) throw new UsageError("a password is required on standard input");
  return password;
}

/** The operator commands; later modules add theirs to this list. */
export const COMMANDS: Command[] = [
  {
    words: ["migrate"],
    summary: "Apply pending database migrations and exit",
    flags: {},
    run: async ({ config, io }) => {
      const db = await openConfiguredDatabase(config, { migrate: false });
      const applied = await migrate(db);
      await db.close();
      io.out(
        applied.length ? `applied migrations: ${applied.join(", ")}` : "database is up to date",
      );
      return 0;
    },
  },
  {
    words: ["migrate-data"],
    summary:
      "Copy this stopped instance's SQLite database and files into --database-url (PostgreSQL) " +
      "and --files-url (S3, optional), then verify",
    flags: {},
    run: async ({ config, io }) => await runMigrateData(config, io),
  },
  {
    words: ["healthcheck"],
    summary: "Exit 0 when this instance's /healthz answers ok (container health checks)",
    flags: {},
    run: async ({ config, io }) => await runHealthcheck(config, io),
  },
  {
    words: ["backup"],
    summary: "Write a consistent backup (database snapshot, the files it references, a " +
      "manifest of hashes) of this running SQLite instance into a new directory",
    flags: { to: "Directory to create (or an empty one)" },
    run: async ({ config, flags, io }) =>
      await (await import("./cli_backup.ts")).runBackupCommand(config, String(flags.to), io),
  },
  {
    words: ["restore"],
    summary: "Restore a backup into an empty --data-dir (and --files-url), every hash checked",
    flags: { from: "Backup directory" },
    run: async ({ config, flags, io }) =>
      await (await import("./cli_backup.ts")).runRestoreCommand(config, String(flags.from), io),
  },
  {
    words: ["verify-backup"],
    summary: "Check a backup's database and files against its manifest, without restoring",
    flags: { from: "Backup directory" },
    run: async ({ flags, io }) =>
      await (await import("./cli_backup.ts")).runVerifyBackupCommand(String(flags.from), io),
  },
  {
    words: ["bridge"],
    summary: "Put local stdio MCP servers behind a dust-mcp server's relay, so your agents can " +
      "call their tools (runs until stopped; status lines on standard error)",
    flags: {
      url: "The dust-mcp server's URL (e.g. https://dust.example.com)",
      workspace: "Workspace id",
      token: "Your personal token (- reads it from standard input)",
      names: "Comma-separated names to register the servers under, in order (default: each " +
        "server's own name)",
      ask: "Which tools ask for approval: writes (default: all but read-only tools), all, none",
    },
    optional: ["names", "ask"],
    passthrough: "-- <command> [args…] [-- <command> [args…]]…",
    run: async ({ flags, io, passthrough }) => {
      // Loaded on use: the server never needs the bridge (nor the MCP SDK's stdio client).
      const { runBridgeCommand, BridgeUsageError } = await import("./bridge/cli_bridge.ts");
      try {
        return await runBridgeCommand(flags, passthrough, io);
      } catch (e) {
        if (e instanceof BridgeUsageError) throw new UsageError(e.message);
        throw e;
      }
    },
  },
  {
    words: ["doctor"],
    summary: "Replay each AI client's discovery, registration, authorization, token exchange " +
      "and first tools/list against the public URL; say which step fails, why, what to change",
    flags: DOCTOR_FLAGS,
    optional: Object.keys(DOCTOR_FLAGS),
    run: async ({ config, flags, io, db }) => {
      const { DoctorUsageError, runDoctorCommand } = await import("./doctor/cli_doctor.ts");
      try {
        return await runDoctorCommand(config, db, {
          client: flags.client as string | undefined,
          url: flags.url as string | undefined,
          workspace: flags.workspace as string | undefined,
        }, io.out);
      } catch (e) {
        if (e instanceof DoctorUsageError) throw new UsageError(e.message);
        throw e;
      }
    },
  },
  {
    words: ["version"],
    summary: "Print the version",
    flags: {},
    run: ({ io }) => {
      io.out(`dust-mcp ${VERSION}`);
      return Promise.resolve(0);
    },
  },
  {
    words: ["users", "create"],
    summary: "Create a user (password read from standard input)",
    flags: { email: "Email address", name: "Full name" },
    run: async ({ flags, io, db }) => {
      const password = await readPassword(io);
      const d = await db();
      const user = await createUser(d, {
        email: String(flags.email),
        name: String(flags.name),
        password,
      });
      io.out(user.sId);
      return 0;
    },
  },
  {
    words: ["workspaces", "create"],
    summary: "Create a workspace with an admin; prints the workspace id",
    flags: { name: "Workspace name", admin: "Email of an existing user who becomes admin" },
    run: async ({ flags, io, db }) => {
      const d = await db();
      const admin = await userFlag(d, flags, "admin");
      const ws = await createWorkspace(d, { name: String(flags.name), adminUserId: admin.id });
      io.out(ws.sId);
      return 0;
    },
  },
  {
    words: ["members", "add"],
    summary: "Add a user to a workspace (or change their role)",
    flags: {
      workspace: "Workspace id",
      email: "Email of an existing user",
      role: "admin, builder or user",
    },
    run: async ({ flags, io, db }) => {
      const d = await db();
      const role = parseRole(String(flags.role));
      const ws = await workspaceFlag(d, flags);
      const user = await userFlag(d, flags);
      await addMember(d, { workspaceId: ws.id, userId: user.id, role });
      io.out(`${user.email} is ${role} of ${ws.sId}`);
      return 0;
    },
  },
  {
    words: ["api-keys", "create"],
    summary: "Create a workspace API key; prints the key once",
    flags: { workspace: "Workspace id", name: "Key name" },
    run: async ({ flags, io, db }) => {
      const d = await db();
      const ws = await workspaceFlag(d, flags);
      const { secret } = await insertApiKey(d, {
        workspaceId: ws.id,
        name: String(flags.name),
        createdByUserId: null,
      });
      io.out(secret);
      return 0;
    },
  },
  {
    words: ["api-keys", "list"],
    summary: "List a workspace's API keys as JSON lines (never the secrets)",
    flags: { workspace: "Workspace id" },
    run: async ({ flags, io, db }) => {
      const d = await db();
      const ws = await workspaceFlag(d, flags);
      const { keys } = await listWorkspaceApiKeys(d, { workspaceId: ws.id, limit: 10_000 });
      for (const key of keys) io.out(JSON.stringify(key));
      return 0;
    },
  },
  {
    words: ["api-keys", "revoke"],
    summary: "Revoke a workspace API key by its id (see api-keys list)",
    flags: { workspace: "Workspace id", id: "Key id (key_…)" },
    run: async ({ flags, io, db }) => {
      const d = await db();
      const ws = await workspaceFlag(d, flags);
      const key = await revokeWorkspaceApiKey(d, { workspaceId: ws.id, keyId: String(flags.id) });
      io.out(`revoked ${key.sId} (${key.name})`);
      return 0;
    },
  },
  {
    words: ["mcp-tokens", "create"],
    summary: "Create an MCP token for a member (revokes their previous one); prints it once",
    flags: { workspace: "Workspace id", email: "Email of a member of the workspace" },
    run: async ({ flags, io, db }) => {
      const d = await db();
      const ws = await workspaceFlag(d, flags);
      const user = await userFlag(d, flags);
      if (!await getRole(d, ws.id, user.id)) {
        throw new UsageError(`${user.email} is not a member of ${ws.sId}`);
      }
      io.out((await issueMcpToken(d, { userId: user.id, workspaceId: ws.id })).token);
      return 0;
    },
  },
  {
    words: ["audit", "export"],
    summary: "Print a workspace's MCP audit log as JSON lines (newest first)",
    flags: {
      workspace: "Workspace id",
      since: "Only entries at or after this ISO date-time or epoch ms",
      until: "Only entries before this ISO date-time or epoch ms",
      tool: "Only calls of this tool",
    },
    optional: ["since", "until", "tool"],
    run: async ({ flags, io, db }) => {
      const d = await db();
      const ws = await workspaceFlag(d, flags);
      const when = (name: string): number | undefined => {
        const v = flags[name];
        if (v === undefined) return undefined;
        const ms = /^\d{1,15}$/.test(String(v)) ? Number(v) : Date.parse(String(v));
        if (Number.isNaN(ms)) throw new UsageError(`--${name}: "${v}" is not a date-time`);
        return ms;
      };
      const filter = {
        since: when("since"),
        until: when("until"),
        tool: flags.tool === undefined ? undefined : String(flags.tool),
      };
      for await (const line of await exportAuditJsonl(d, ws.id, filter)) io.out(line);
      return 0;
    },
  },
  {
    words: ["signing-keys", "rotate"],
    summary:
      "Sign new access tokens with a new key; the previous key still verifies its tokens until the next rotation, older keys are retired (running instances follow)",
    flags: {},
    run: async ({ io, db }) => {
      const { kid, retired } = await rotateSigningKey(await db());
      io.out(`signing key ${kid} is current; ${retired} older key(s) retired`);
      return 0;
    },
  },
  {
    words: ["personal-tokens", "create"],
    summary: "Create a personal access token for a member (REST only); prints it once",
    flags: {
      workspace: "Workspace id",
      email: "Email of a member of the workspace",
      name: "Token name",
      "expires-days": "Days until the token expires (default: never)",
    },
    optional: ["expires-days"],
    run: async ({ flags, io, db }) => {
      const d = await db();
      const ws = await workspaceFlag(d, flags);
      const user = await userFlag(d, flags);
      const days = flags["expires-days"];
      if (days !== undefined && !/^\d{1,5}$/.test(String(days))) {
        throw new UsageError(`--expires-days: "${days}" is not a whole number of days`);
      }
      const { secret } = await issuePersonalToken(d, {
        workspaceId: ws.id,
        userId: user.id,
        name: String(flags.name),
        expiresInDays: days === undefined ? null : Number(days),
      });
      io.out(secret);
      return 0;
    },
  },
];

/** `migrate-data`: the stores come from the usual settings, the source is the data directory. */
async function runMigrateData(config: Config, io: Io): Promise<number> {
  if (!config.databaseUrl) {
    throw new UsageError("migrate-data needs --database-url (the PostgreSQL database to fill)");
  }
  const source = sqlitePath(config.dataDir);
  if (!(await Deno.stat(source).then((s) => s.isFile, () => false))) {
    throw new UsageError(`--data-dir: no database at ${source} (the instance to move)`);
  }
  const { formatBytes, migrateData, MigrateDataError } = await import("./core/migrate_data.ts");
  const pg = new URL(config.databaseUrl);
  io.out(`target: PostgreSQL ${pg.hostname}:${pg.port || 5432}${pg.pathname}`);
  const target = await openConfiguredDatabase(config, { migrate: false });
  let files: S3Files | null = null;
  try {
    files = config.filesUrl ? await openBlobStore(config) as S3Files : null;
    const done = await migrateData({
      sqlitePath: source,
      dataDir: config.dataDir,
      target,
      files,
      report: (line) => io.out(line),
    });
    const bytes = `${done.files} files (${formatBytes(done.bytes)})`;
    io.out(
      `done in ${(done.ms / 1000).toFixed(1)} s: ${done.rows} rows in ${done.tables} tables, ` +
        `${done.filesCopied ? `${bytes} copied` : `${bytes} left in place`}; verified. ` +
        "Start the instances with the same --database-url" +
        (done.filesCopied ? " and --files-url." : "."),
    );
    return 0;
  } catch (e) {
    if (!(e instanceof MigrateDataError)) throw e;
    io.err(`dust-mcp: migrate-data: ${oneLine(e.message)}`);
    return 1;
  } finally {
    await files?.close();
    await target.close();
  }
}

/** `healthcheck`: GET /healthz on this instance's port, from inside its host or container. */
async function runHealthcheck(config: Config, io: Io): Promise<number> {
  const host = config.host === "0.0.0.0"
    ? "127.0.0.1"
    : config.host === "::"
    ? "[::1]"
    : config.host.includes(":")
    ? `[${config.host}]`
    : config.host;
  const url = `http://${host}:${config.port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const body = await res.json().catch(() => null) as { status?: string } | null;
    if (res.ok && body?.status === "ok") {
      io.out("ok");
      return 0;
    }
    io.err(`dust-mcp: ${url} answered ${res.status}`);
  } catch (e) {
    io.err(`dust-mcp: ${url}: ${oneLine((e as Error).message)}`);
  }
  return 1;
}

/** `dust-mcp <command> --help`: the command's own flags with what each means. */
function commandHelp(c: Command): string {
  const flags = Object.keys(c.flags).length
    ? twoColumns(
      Object.entries(c.flags).map(([f, help]): [string, string] => [
        `--${f} <${f}>`,
        `${help}${c.optional?.includes(f) ? " (optional)" : ""}`,
      ]),
    )
    : "";
  return [
    `Usage: dust-mcp ${c.words.join(" ")} [options]${c.passthrough ? ` ${c.passthrough}` : ""}`,
    "",
    c.summary,
    ...(flags.length ? ["", "Options:", flags] : []),
    "",
    "Every command also takes the settings (--region, --data-dir, …): see dust-mcp --help.",
  ].join("\n");
}

/** A command's flags as its usage line shows them. */
function flagsOf(c: Command): string {
  return Object.keys(c.flags).map((f) =>
    c.optional?.includes(f) ? `[--${f} <${f}>]` : `--${f} <${f}>`
  ).concat(c.passthrough ? [c.passthrough] : []).join(" ");
}

function commandRows(commands: Command[]): [string, string][] {
  return commands.flatMap((c): [string, string][] => {
    const flags = flagsOf(c);
    return flags ? [[c.words.join(" "), c.summary], ["", flags]] : [[c.words.join(" "), c.summary]];
  });
}

function helpText(): string {
  return [
    `dust-mcp ${VERSION} — a team workspace served to AI clients as a remote MCP server`,
    "",
    "Usage: dust-mcp [serve] [options]    start the server (default command)",
    "       dust-mcp <command> [options]  run an operator command (dust-mcp <command> --help)",
    "",
    "Commands:",
    twoColumns([["serve", "Start the server"], ...commandRows(COMMANDS)]),
    "",
    "Options (every command):",
    settingsHelp([["--help", "Show this help (after a command: that command's help)"]]),
  ].join("\n");
}

/** `dust-mcp users --help`: the commands that start with these words. */
function groupHelp(words: string[], commands: Command[]): string {
  return [
    `Usage: dust-mcp ${words.join(" ")} <command> [options]`,
    "",
    "Commands:",
    twoColumns(commandRows(commands)),
    "",
    `See dust-mcp ${commands[0].words.join(" ")} --help for a command's options.`,
  ].join("\n");
}

/** Commands whose words start with `positionals` (a group such as `users`). */
function commandGroup(positionals: string[]): Command[] {
  return COMMANDS.filter((c) =>
    positionals.length > 0 && positionals.length < c.words.length &&
    positionals.every((w, i) => c.words[i] === w)
  );
}

function findCommand(positionals: string[]): { command: Command | "serve"; rest: string[] } {
  if (positionals.length === 0 || positionals[0] === "serve") {
    return { command: "serve", rest: positionals.slice(positionals[0] === "serve" ? 1 : 0) };
  }
  for (const c of COMMANDS) {
    if (c.words.every((w, i) => positionals[i] === w)) {
      return { command: c, rest: positionals.slice(c.words.length) };
    }
  }
  throw new UsageError(`unknown command "${positionals.join(" ")}" (see --help)`);
}

/** Parse and run; returns the process exit code. */
export async function runCli(args: string[], io: Io = stdIo, env = readEnv()): Promise<number> {
  try {
    const commandFlags = new Set(COMMANDS.flatMap((c) => Object.keys(c.flags)));
    const options: Record<string, { type: "string" | "boolean" }> = {
      ...settingOptions(),
      help: { type: "boolean" },
    };
    for (const f of commandFlags) options[f] = { type: "string" };
    let parsed;
    // `deno task start -- --region eu` passes the `--` through: a leading one is a separator.
    // A later one starts the words a command such as `bridge` runs (`-- <command> [args…]`).
    const { argv, passthrough } = splitPassthrough(args[0] === "--" ? args.slice(1) : args);
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (e) {
      const msg = (e as Error).message;
      const unknown = /^Unknown option '([^']+)'/.exec(msg);
      throw new UsageError(
        unknown ? `unknown option ${unknown[1]} (see --help)` : msg.split(/\.\s|\n/)[0],
      );
    }
    const { values, positionals } = parsed;
    const group = commandGroup(positionals);
    if (group.length) {
      if (values.help) {
        io.out(groupHelp(positionals, group));
        return 0;
      }
      throw new UsageError(
        `${positionals.join(" ")}: name a command: ${
          group.map((c) => c.words.join(" ")).join(", ")
        } (see dust-mcp ${positionals.join(" ")} --help)`,
      );
    }
    const { command, rest } = findCommand(positionals);
    if (values.help) {
      io.out(command === "serve" ? helpText() : commandHelp(command));
      return 0;
    }
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    if (passthrough && (command === "serve" || !command.passthrough)) {
      throw new UsageError(`unexpected argument "--" (see --help)`);
    }
    const config = resolveConfig(values as Record<string, string | undefined>, env);
    if (command === "serve") {
      for (const f of commandFlags) {
        if (values[f] !== undefined) throw new UsageError(`--${f} is not an option of serve`);
      }
      return await serve(config, io);
    }
    for (const f of commandFlags) {
      const own = f in command.flags;
      if (!own && values[f] !== undefined) {
        throw new UsageError(`--${f} is not an option of ${command.words.join(" ")}`);
      }
      if (own && values[f] === undefined && !command.optional?.includes(f)) {
        throw new UsageError(`${command.words.join(" ")} needs --${f}`);
      }
    }
    let db: Db | null = null;
    try {
      return await command.run({
        config,
        flags: values as Flags,
        io,
        db: async () => (db ??= await openConfiguredDatabase(config)),
        passthrough: passthrough ?? [],
      });
    } finally {
      await (db as Db | null)?.close();
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      io.err(`dust-mcp: ${e.message}`);
      return 2;
    }
    if (e instanceof AppError) {
      // A value the core rejects (400) or that names nothing (404) is a bad command line;
      // anything else (a duplicate, a conflict) is an operation refused on valid input.
      io.err(`dust-mcp: ${oneLine(e.message)}`);
      return e.status === 400 || e.status === 404 ? 2 : 1;
    }
    if (e instanceof StartError) {
      // A configured service unusable at start (the files store): one line naming the setting.
      io.err(`dust-mcp: ${oneLine(e.message)}`);
      return 1;
    }
    if (isOsError(e)) {
      // The operating system refused (port in use, unwritable data directory): one line, not
      // a stack trace; programming errors still surface with their stack.
      io.err(`dust-mcp: ${oneLine((e as Error).message)}`);
      return 1;
    }
    throw e;
  }
}

/** Split the arguments at the first `--`: what follows is a command's passthrough (or null). */
function splitPassthrough(args: string[]): { argv: string[]; passthrough: string[] | null } {
  const at = args.indexOf("--");
  return at < 0
    ? { argv: args, passthrough: null }
    : { argv: args.slice(0, at), passthrough: args.slice(at + 1) };
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ");
}

/** An error raised by the runtime for an OS-level failure (`Deno.errors.*`). */
function isOsError(e: unknown): boolean {
  return Object.values(Deno.errors).some((cls) => e instanceof cls);
}

/**
 * Log lines held until the banner is printed, so the banner comes first and in one piece on
 * the terminal; from then on lines go straight to standard output.
 */
function heldLogSink(): { sink: LogSink; release(): void } {
  const held: string[] = [];
  let direct = false;
  return {
    sink: (line) => (direct ? stdoutSink(line) : held.push(line)),
    release: () => {
      direct = true;
      for (const line of held.splice(0)) stdoutSink(line);
    },
  };
}

/** The start banner: what runs where, and the setup link on a first start. */
export function bannerLines(
  config: Config,
  handle: { url: string; setupUrl: string | null },
): string[] {
  const lines = [
    `dust-mcp ${VERSION} serving region ${config.regionId} on ${handle.url}`,
    `  public URL: ${config.publicUrl}   MCP endpoint: ${config.publicUrl}/mcp`,
    `  data directory: ${config.dataDir}`,
  ];
  if (config.filesUrl) {
    const { bucket, prefix, endpoint } = config.filesUrl;
    lines.push(`  files: bucket ${bucket}${prefix ? `, prefix ${prefix}` : ""} at ${endpoint}`);
  }
  if (handle.setupUrl) {
    lines.push(
      "",
      "  No account exists yet. Open this one-time link to create the first admin:",
      `  ${handle.setupUrl}`,
      "",
    );
  }
  return lines;
}

async function serve(config: Config, io: Io): Promise<number> {
  let handle: Awaited<ReturnType<typeof startServer>>;
  const logs = heldLogSink();
  try {
    handle = await startServer(config, { logSink: logs.sink });
  } catch (e) {
    logs.release();
    if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.AddrNotAvailable) {
      (e as Error).message = `cannot listen on ${config.host}:${config.port}: ${
        (e as Error).message
      }`;
    }
    throw e;
  }
  // The configuration the server runs with (with `--port 0`, its public URL names the port).
  for (const line of bannerLines(handle.deps.config, handle)) io.err(line);
  logs.release();
  // Wait for a signal, then for the whole stop (streams ended, database closed). Waiting on
  // `handle.finished` instead let main exit between the HTTP shutdown and the database close.
  let onSignal!: () => void;
  const signalled = new Promise<void>((r) => (onSignal = r));
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  await signalled;
  io.err("dust-mcp: stopping");
  await handle.stop();
  for (const s of signals) Deno.removeSignalListener(s, onSignal);
  return 0;
}
