/**
 * Boot configuration, read in one place: flag > environment variable > default.
 *
 * Each row of {@link SETTINGS} is one setting. The same table generates `--help` and the
 * README's configuration table, so the three never drift apart.
 * @module
 */
import { parseS3Url, type S3Location } from "./storage/s3_url.ts";

export type RegionKey = "us" | "eu";
export type LogLevel = "debug" | "info" | "warn" | "error";

export const REGIONS = {
  us: { id: "us-central1", defaultPort: 4310 },
  eu: { id: "europe-west1", defaultPort: 4320 },
} as const;

export type RegionId = (typeof REGIONS)[RegionKey]["id"];

/** The frozen configuration every module receives through `deps.config`. */
export interface Config {
  region: RegionKey;
  regionId: RegionId;
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL URL, or null for SQLite in the data directory. */
  databaseUrl: string | null;
  /** Public origin, no path, no trailing slash: the OAuth issuer and the base of every URL. */
  publicUrl: string;
  logLevel: LogLevel;
  /** The other region's public origin, when this instance knows its peer. */
  peerUrl: string | null;
  modelBaseUrl: string | null;
  modelApiKey: string | null;
  model: string | null;
  /** `/mcp` rate limits (per minute): tool calls per user, per client; requests per token. */
  mcpRateUser: number;
  mcpRateClient: number;
  mcpRateRequests: number;
  /** CIMD metadata fetches allowed per 10 minutes: per requesting address, and server-wide. */
  cimdFetchesPerIp: number;
  cimdFetchesTotal: number;
  /** Most JSON-RPC messages one `/mcp` POST may batch. */
  mcpMaxBatch: number;
  /** Most audit log rows kept per workspace (oldest removed first). */
  auditMaxEntries: number;
  /** Storage quotas in bytes (files + documents), null for none: per member, per workspace. */
  storageQuotaMember: number | null;
  storageQuotaWorkspace: number | null;
  /** Search workers, and each member's share of them (running, then waiting; past: 429). */
  searchWorkers: number;
  searchMemberConcurrency: number;
  searchMemberQueue: number;
  searchRefusalDelayMs: number;
  /** SQLite: a search over at most this many indexed chunks runs inline, not on a worker. */
  searchInlineMaxChunks: number;
  /** Document uploads: extraction processes at once, time and memory each may use. */
  extractProcesses: number;
  extractTimeoutSeconds: number;
  extractMemory: number;
  /** Seconds a tool call waits for the poster's approval; then it is refused as timed out. */
  toolApprovalTimeoutSeconds: number;
  /** Open event streams (conversation, message, relay): per user or API key, per instance. */
  streamsPerUser: number;
  streamsTotal: number;
  /** Bytes one event stream may queue for its reader, in KiB. */
  streamBufferKib: number;
  /** Header naming the client address set by a trusted reverse proxy (sign-in limits), or null. */
  clientIpHeader: string | null;
  /**
   * Seconds an instance's claim on work (an agent run, a periodic job, an upload's reservation)
   * outlives its last renewal; another instance takes the work over after that.
   */
  workLeaseSeconds: number;
  /** Where file bytes live: null for `<dataDir>/files`, else a bucket of an S3-compatible store. */
  filesUrl: S3Location | null;
  /** Credentials for `filesUrl`, from the environment only (a flag would show in `ps`). */
  awsAccessKeyId: string | null;
  awsSecretAccessKey: string | null;
  awsSessionToken: string | null;
  /** Scheduled backups (SQLite): their directory (null: none), period and how many are kept. */
  backupDir: string | null;
  backupEveryHours: number;
  backupKeep: number;
}

type Raw = Record<string, string | undefined>;

interface Setting {
  key: keyof Config;
  /** The flag's name without `--`; null for a setting read from the environment only. */
  flag: string | null;
  env: string;
  help: string;
  /** Default shown in `--help` (the real default may depend on the region). */
  shownDefault: string;
  /** Parse a raw string; throw `ConfigError` on a bad value. */
  parse: (value: string, partial: Partial<Config>) => unknown;
  /** Default computed from the settings already resolved. */
  fallback: (partial: Partial<Config>) => unknown;
  /** Never shown: its default in `--help` and the README is "(none)", errors never quote it. */
  secret?: boolean;
}

/** A bad flag, environment variable or value: the CLI prints the message and exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** A well-formed setting naming a service that is not usable at start (an unreachable store,
 * a missing bucket): the CLI prints the message, which names the setting, and exits 1. */
export class StartError extends Error {
  override name = "StartError";
}

function parsePort(value: string, source: string): number {
  if (!/^\d{1,5}$/.test(value)) throw new ConfigError(`${source}: "${value}" is not a port number`);
  const n = Number(value);
  if (n > 65535) throw new ConfigError(`${source}: ${n} is not a port number (0-65535)`);
  return n;
}

/** Normalise an origin: lowercase scheme and host, no default port, no path, no trailing slash. */
export function normaliseOrigin(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${source}: "${value}" is not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${source}: "${value}" must be an http or https URL`);
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`${source}: "${value}" must be an origin with no path, query or user`);
  }
  return url.origin;
}

/** A PostgreSQL connection URL (`postgres://` or `postgresql://`), never echoed (a password). */
function parseDatabaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError("--database-url: not a URL (expected postgres://user:pass@host:port/db)");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError(
      `--database-url: "${url.protocol}" is not postgres: or postgresql: (unset it for SQLite)`,
    );
  }
  if (!url.hostname && !url.searchParams.get("host")) {
    throw new ConfigError("--database-url: no host (expected postgres://user:pass@host:port/db)");
  }
  return value;
}

function parsePositiveInt(value: string, source: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw new ConfigError(`${source}: "${value}" is not a positive integer`);
  }
  return Number(value);
}

function parseCount(value: string, source: string): number {
  if (!/^\d{1,9}$/.test(value)) {
    throw new ConfigError(`${source}: "${value}" is not a whole number`);
  }
  return Number(value);
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A byte size such as `1GiB`, `500MB` or `1048576`, or `unlimited` (null). */
export function parseByteSize(value: string, source: string): number | null {
  if (value.trim().toLowerCase() === "unlimited") return null;
  const m = /^\s*(\d{1,15}(?:\.\d{1,6})?)\s*([a-z]{0,3})\s*$/i.exec(value);
  const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
  const bytes = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new ConfigError(
      `${source}: "${value}" is not a size (e.g. 1GiB, 500MB, 1048576) or unlimited`,
    );
  }
  return bytes;
}

function nonEmpty(value: string, source: string): string {
  if (value.trim() === "") throw new ConfigError(`${source}: must not be empty`);
  return value;
}

export const SETTINGS: readonly Setting[] = [
  {
    key: "region",
    flag: "region",
    env: "DUST_MCP_REGION",
    help: "Region this instance serves: us (us-central1) or eu (europe-west1)",
    shownDefault: "us",
    parse: (v) => {
      if (v !== "us" && v !== "eu") throw new ConfigError(`--region: "${v}" is not us or eu`);
      return v;
    },
    fallback: () => "us",
  },
  {
    key: "port",
    flag: "port",
    env: "DUST_MCP_PORT",
    help: "TCP port to listen on (0 picks a free port)",
    shownDefault: "4310 (us), 4320 (eu)",
    parse: (v) => parsePort(v, "--port"),
    fallback: (p) => REGIONS[p.region ?? "us"].defaultPort,
  },
  {
    key: "host",
    flag: "host",
    env: "DUST_MCP_HOST",
    help: "Interface to listen on (0.0.0.0 for every interface)",
    shownDefault: "127.0.0.1",
    parse: (v) => nonEmpty(v, "--host"),
    fallback: () => "127.0.0.1",
  },
  {
    key: "dataDir",
    flag: "data-dir",
    env: "DUST_MCP_DATA_DIR",
    help: "Directory holding the database and the files",
    shownDefault: "./dust-mcp-data/<region id>",
    parse: (v) => nonEmpty(v, "--data-dir"),
    fallback: (p) => `./dust-mcp-data/${REGIONS[p.region ?? "us"].id}`,
  },
  {
    key: "databaseUrl",
    flag: "database-url",
    env: "DUST_MCP_DATABASE_URL",
    help: "PostgreSQL URL (postgres://user:pass@host:port/db); unset: SQLite in the data directory",
    shownDefault: "(none)",
    parse: (v) => parseDatabaseUrl(v),
    fallback: () => null,
    secret: true,
  },
  {
    key: "publicUrl",
    flag: "public-url",
    env: "DUST_MCP_PUBLIC_URL",
    help: "Public origin clients use (OAuth issuer, MCP resource); no path",
    shownDefault: "http://localhost:<port>",
    parse: (v) => normaliseOrigin(v, "--public-url"),
    fallback: (p) => `http://localhost:${p.port}`,
  },
  {
    key: "logLevel",
    flag: "log-level",
    env: "DUST_MCP_LOG_LEVEL",
    help: "Log level: debug, info, warn or error",
    shownDefault: "info",
    parse: (v) => {
      if (!["debug", "info", "warn", "error"].includes(v)) {
        throw new ConfigError(`--log-level: "${v}" is not debug, info, warn or error`);
      }
      return v;
    },
    fallback: () => "info",
  },
  {
    key: "peerUrl",
    flag: "peer-url",
    env: "DUST_MCP_PEER_URL",
    help: "Public origin of the other region's instance (enables region routing)",
    shownDefault: "(none)",
    parse: (v) => normaliseOrigin(v, "--peer-url"),
    fallback: () => null,
  },
  {
    key: "modelBaseUrl",
    flag: "model-base-url",
    env: "DUST_MCP_MODEL_BASE_URL",
    help: "OpenAI-compatible chat-completions base URL used by agents",
    shownDefault: "(none)",
    parse: (v) => {
      try {
        return new URL(v).href.replace(/\/$/, "");
      } catch {
        throw new ConfigError(`--model-base-url: "${v}" is not an absolute URL`);
      }
    },
    fallback: () => null,
  },
  {
    key: "modelApiKey",
    flag: "model-api-key",
    env: "DUST_MCP_MODEL_API_KEY",
    help: "API key for the model endpoint",
    shownDefault: "(none)",
    parse: (v) => v,
    fallback: () => null,
    secret: true,
  },
  {
    key: "model",
    flag: "model",
    env: "DUST_MCP_MODEL",
    help: "Model name sent to the model endpoint",
    shownDefault: "(none)",
    parse: (v) => nonEmpty(v, "--model"),
    fallback: () => null,
  },
  {
    key: "mcpRateUser",
    flag: "mcp-rate-user",
    env: "DUST_MCP_RATE_USER",
    help: "MCP tool calls allowed per user per minute",
    shownDefault: "120",
    parse: (v) => parsePositiveInt(v, "--mcp-rate-user"),
    fallback: () => 120,
  },
  {
    key: "mcpRateClient",
    flag: "mcp-rate-client",
    env: "DUST_MCP_RATE_CLIENT",
    help: "MCP tool calls allowed per OAuth client (or MCP token) per minute",
    shownDefault: "600",
    parse: (v) => parsePositiveInt(v, "--mcp-rate-client"),
    fallback: () => 600,
  },
  {
    key: "mcpRateRequests",
    flag: "mcp-rate-requests",
    env: "DUST_MCP_RATE_REQUESTS",
    help: "HTTP requests to /mcp allowed per token or grant per minute",
    shownDefault: "1200",
    parse: (v) => parsePositiveInt(v, "--mcp-rate-requests"),
    fallback: () => 1200,
  },
  {
    key: "cimdFetchesPerIp",
    flag: "cimd-fetches-per-ip",
    env: "DUST_MCP_CIMD_FETCHES_PER_IP",
    help: "CIMD fetches (cache misses) one requesting IP may cause per 10 min",
    shownDefault: "30",
    parse: (v) => parsePositiveInt(v, "--cimd-fetches-per-ip"),
    fallback: () => 30,
  },
  {
    key: "cimdFetchesTotal",
    flag: "cimd-fetches-total",
    env: "DUST_MCP_CIMD_FETCHES_TOTAL",
    help: "CIMD fetches (cache misses) the whole server makes per 10 min",
    shownDefault: "600",
    parse: (v) => parsePositiveInt(v, "--cimd-fetches-total"),
    fallback: () => 600,
  },
  {
    key: "mcpMaxBatch",
    flag: "mcp-max-batch",
    env: "DUST_MCP_MAX_BATCH",
    help: "Most JSON-RPC messages in one /mcp batch (more: error -32600)",
    shownDefault: "10",
    parse: (v) => parsePositiveInt(v, "--mcp-max-batch"),
    fallback: () => 10,
  },
  {
    key: "auditMaxEntries",
    flag: "audit-max-entries",
    env: "DUST_MCP_AUDIT_MAX_ENTRIES",
    help: "Most audit log entries kept per workspace; the oldest go first",
    shownDefault: "1000000",
    parse: (v) => parsePositiveInt(v, "--audit-max-entries"),
    fallback: () => 1_000_000,
  },
  // Storage quotas (files and documents, README "Storage quotas"): past either, writes that
  // add bytes answer 413. Sizes take B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, or `unlimited`.
  {
    key: "storageQuotaMember",
    flag: "storage-quota-member",
    env: "DUST_MCP_STORAGE_QUOTA_MEMBER",
    help: "Bytes of files and documents one member may store in a workspace (or unlimited)",
    shownDefault: "1GiB",
    parse: (v) => parseByteSize(v, "--storage-quota-member"),
    fallback: () => 2 ** 30,
  },
  {
    key: "storageQuotaWorkspace",
    flag: "storage-quota-workspace",
    env: "DUST_MCP_STORAGE_QUOTA_WORKSPACE",
    help: "Bytes of files and documents one workspace may store (or unlimited)",
    shownDefault: "10GiB",
    parse: (v) => parseByteSize(v, "--storage-quota-workspace"),
    fallback: () => 10 * 2 ** 30,
  },
  {
    key: "searchWorkers",
    flag: "search-workers",
    env: "DUST_MCP_SEARCH_WORKERS",
    help: "Worker threads that run searches (full-text, title, grep) off the main loop",
    shownDefault: "2",
    parse: (v) => parsePositiveInt(v, "--search-workers"),
    fallback: () => 2,
  },
  {
    key: "searchInlineMaxChunks",
    flag: "search-inline-max-chunks",
    env: "DUST_MCP_SEARCH_INLINE_MAX_CHUNKS",
    help:
      "SQLite: a search over at most this many indexed chunks runs on the main thread, not a worker (0: always a worker)",
    shownDefault: "2000",
    parse: (v) => parseCount(v, "--search-inline-max-chunks"),
    fallback: () => 2000,
  },
  {
    key: "searchMemberConcurrency",
    flag: "search-member-concurrency",
    env: "DUST_MCP_SEARCH_MEMBER_CONCURRENCY",
    help:
      "Searches one member (user or API key) runs at once; keep it below --search-workers so others always find a free worker",
    shownDefault: "1",
    parse: (v) => parsePositiveInt(v, "--search-member-concurrency"),
    fallback: () => 1,
  },
  {
    key: "searchMemberQueue",
    flag: "search-member-queue",
    env: "DUST_MCP_SEARCH_MEMBER_QUEUE",
    help: "Searches one member may have waiting beyond those; past it, 429 rate_limit_error",
    shownDefault: "8",
    parse: (v) => parsePositiveInt(v, "--search-member-queue"),
    fallback: () => 8,
  },
  {
    key: "searchRefusalDelayMs",
    flag: "search-refusal-delay-ms",
    env: "DUST_MCP_SEARCH_REFUSAL_DELAY_MS",
    help:
      "Milliseconds a refused search (429) is held before it is answered, so retrying at once cannot turn refusals into a request flood (0: answer at once)",
    shownDefault: "1000",
    parse: (v) => (v === "0" ? 0 : parsePositiveInt(v, "--search-refusal-delay-ms")),
    fallback: () => 1000,
  },
  {
    key: "extractProcesses",
    flag: "extract-processes",
    env: "DUST_MCP_EXTRACT_PROCESSES",
    help: "Uploaded documents (PDF, DOCX, …) read at once, each in a process of its own",
    shownDefault: "1",
    parse: (v) => parsePositiveInt(v, "--extract-processes"),
    fallback: () => 1,
  },
  {
    key: "extractTimeoutSeconds",
    flag: "extract-timeout-seconds",
    env: "DUST_MCP_EXTRACT_TIMEOUT_SECONDS",
    help: "Seconds reading one uploaded document may take; then it is stopped and refused",
    shownDefault: "20",
    parse: (v) => parsePositiveInt(v, "--extract-timeout-seconds"),
    fallback: () => 20,
  },
  {
    key: "extractMemory",
    flag: "extract-memory",
    env: "DUST_MCP_EXTRACT_MEMORY",
    help:
      "Memory reading one uploaded document may use (min 128MiB); then it is stopped and refused",
    shownDefault: "512MiB",
    parse: (v) => {
      const n = parseByteSize(v, "--extract-memory");
      if (n === null || n < 128 * 2 ** 20) {
        throw new ConfigError(`--extract-memory: "${v}" is not a size of at least 128MiB`);
      }
      return n;
    },
    fallback: () => 512 * 2 ** 20,
  },
  {
    key: "toolApprovalTimeoutSeconds",
    flag: "tool-approval-timeout-seconds",
    env: "DUST_MCP_TOOL_APPROVAL_TIMEOUT_SECONDS",
    help:
      "Seconds an agent's tool call waits for the user's approval; then the agent is told it timed out",
    shownDefault: "3600",
    parse: (v) => parsePositiveInt(v, "--tool-approval-timeout-seconds"),
    fallback: () => 3600,
  },
  {
    key: "streamsPerUser",
    flag: "streams-per-user",
    env: "DUST_MCP_STREAMS_USER",
    help: "Open event streams per user or API key (then 429)",
    shownDefault: "32",
    parse: (v) => parsePositiveInt(v, "--streams-per-user"),
    fallback: () => 32,
  },
  {
    key: "streamsTotal",
    flag: "streams-total",
    env: "DUST_MCP_STREAMS_TOTAL",
    help: "Open event streams on the instance (then 429)",
    shownDefault: "500",
    parse: (v) => parsePositiveInt(v, "--streams-total"),
    fallback: () => 500,
  },
  {
    key: "streamBufferKib",
    flag: "stream-buffer-kib",
    env: "DUST_MCP_STREAM_BUFFER",
    help: "KiB an event stream may queue for a reader that is slow (min 64)",
    shownDefault: "128",
    parse: (v) => {
      const n = parsePositiveInt(v, "--stream-buffer-kib");
      if (n < 64) throw new ConfigError(`--stream-buffer-kib: ${n} is below the minimum of 64`);
      return n;
    },
    fallback: () => 128,
  },
  {
    key: "clientIpHeader",
    flag: "client-ip-header",
    env: "DUST_MCP_CLIENT_IP_HEADER",
    help: "Header a trusted proxy sets to the client address (last value used)",
    shownDefault: "(none: peer address)",
    parse: (v) => {
      if (!/^[A-Za-z0-9-]{1,64}$/.test(v)) {
        throw new ConfigError(`--client-ip-header: "${v}" is not an HTTP header name`);
      }
      return v.toLowerCase();
    },
    fallback: () => null,
  },
  // Several instances on one PostgreSQL database (README "Scaling out").
  {
    key: "workLeaseSeconds",
    flag: "work-lease-seconds",
    env: "DUST_MCP_WORK_LEASE_SECONDS",
    help:
      "Seconds an instance's claim on an agent run or a periodic job outlives its last renewal; then another instance takes it (min 2)",
    shownDefault: "30",
    parse: (v) => {
      const n = parsePositiveInt(v, "--work-lease-seconds");
      if (n < 2) throw new ConfigError(`--work-lease-seconds: ${n} is below the minimum of 2`);
      return n;
    },
    fallback: () => 30,
  },
  // File storage (README "Files on S3-compatible storage"): unset keeps the bytes in the data
  // directory; an s3:// URL puts them in a bucket, with the standard AWS credential variables.
  {
    key: "filesUrl",
    flag: "files-url",
    env: "DUST_MCP_FILES_URL",
    help:
      "Keep file bytes in an S3-compatible bucket: s3://bucket/prefix?endpoint=https://host&region=us-east-1&force_path_style=true",
    shownDefault: "(none: <data-dir>/files)",
    parse: (v) => {
      try {
        return parseS3Url(v);
      } catch (e) {
        throw new ConfigError(`--files-url: ${(e as Error).message}`);
      }
    },
    fallback: () => null,
  },
  ...awsCredentialRows(),
  // Scheduled backups (README "Backup and restore"): SQLite only; one instance at a time.
  {
    key: "backupDir",
    flag: "backup-dir",
    env: "DUST_MCP_BACKUP_DIR",
    help: "Take scheduled backups (SQLite) into this directory, one subdirectory each",
    shownDefault: "(none)",
    parse: (v) => nonEmpty(v, "--backup-dir"),
    fallback: () => null,
  },
  {
    key: "backupEveryHours",
    flag: "backup-every-hours",
    env: "DUST_MCP_BACKUP_EVERY_HOURS",
    help: "Hours between scheduled backups (decimals allowed)",
    shownDefault: "24",
    parse: (v) => {
      const n = /^\d{1,6}(\.\d{1,6})?$/.test(v) ? Number(v) : NaN;
      if (!(n > 0)) throw new ConfigError(`--backup-every-hours: "${v}" is not a positive number`);
      return n;
    },
    fallback: () => 24,
  },
  {
    key: "backupKeep",
    flag: "backup-keep",
    env: "DUST_MCP_BACKUP_KEEP",
    help: "Scheduled backups kept in --backup-dir (the oldest are removed)",
    shownDefault: "7",
    parse: (v) => parsePositiveInt(v, "--backup-keep"),
    fallback: () => 7,
  },
];

/** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: environment only, secrets. */
function awsCredentialRows(): Setting[] {
  const rows: [keyof Config, string, string][] = [
    ["awsAccessKeyId", "AWS_ACCESS_KEY_ID", "Access key id for --files-url"],
    ["awsSecretAccessKey", "AWS_SECRET_ACCESS_KEY", "Secret access key for --files-url"],
    ["awsSessionToken", "AWS_SESSION_TOKEN", "Session token for --files-url, with temporary keys"],
  ];
  return rows.map(([key, env, help]) => ({
    key,
    flag: null,
    env,
    help: `${help} (environment only)`,
    shownDefault: "(none)",
    parse: (v) => v,
    fallback: () => null,
    secret: true,
  }));
}

/** Settings that are only valid together. */
function checkCombinations(config: Partial<Config>): void {
  if (config.backupDir && config.databaseUrl) {
    throw new ConfigError(
      "--backup-dir: scheduled backups copy a SQLite data directory; on PostgreSQL use " +
        "pg_dump or pg_basebackup with WAL archiving, or the managed service's backups " +
        '(README "Backup and restore")',
    );
  }
  if (config.filesUrl && !(config.awsAccessKeyId && config.awsSecretAccessKey)) {
    throw new ConfigError(
      "--files-url: an s3:// store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
    );
  }
}

/** parseArgs option table for every setting (all take a string value). */
export function settingOptions(): Record<string, { type: "string" }> {
  return Object.fromEntries(
    SETTINGS.flatMap((s) => (s.flag ? [[s.flag, { type: "string" as const }]] : [])),
  );
}

/**
 * Resolve the configuration from parsed flags and an environment snapshot.
 * Settings resolve in table order so later defaults can depend on earlier values.
 */
export function resolveConfig(flags: Raw, env: Raw): Config {
  const partial: Partial<Config> = {};
  for (const s of SETTINGS) {
    const fromFlag = s.flag === null ? undefined : flags[s.flag];
    const fromEnv = env[s.env];
    let value: unknown;
    if (fromFlag !== undefined) value = s.parse(fromFlag, partial);
    else if (fromEnv !== undefined && fromEnv !== "") {
      try {
        value = s.parse(fromEnv, partial);
      } catch (e) {
        throw new ConfigError(`${s.env}: ${(e as Error).message.replace(/^--[\w-]+: /, "")}`);
      }
    } else value = s.fallback(partial);
    (partial as Record<string, unknown>)[s.key] = value;
  }
  checkCombinations(partial);
  const region = partial.region as RegionKey;
  return Object.freeze({ ...partial, regionId: REGIONS[region].id } as Config);
}

/** The environment variables this program reads (so the caller reads nothing else). */
export function readEnv(): Raw {
  const out: Raw = {};
  for (const s of SETTINGS) out[s.env] = Deno.env.get(s.env);
  return out;
}

/** The default `--help` and the README show: never anything for a secret. */
function shownDefault(s: Setting): string {
  return s.secret ? "(none)" : s.shownDefault;
}

/**
 * Rows of two columns: the left padded to the widest left cell (at most `max` characters; a
 * longer one puts its text on the next line), then two spaces and the text.
 */
export function twoColumns(rows: [string, string][], indent = 2, max = 36): string {
  const width = Math.min(max, Math.max(...rows.map(([l]) => l.length)));
  const pad = " ".repeat(indent);
  return rows.map(([left, text]) =>
    left.length > width
      ? `${pad}${left}\n${pad}${" ".repeat(width)}  ${text}`
      : `${pad}${left.padEnd(width)}  ${text}`
  ).join("\n");
}

/** `--help` lines for the settings (and `extra` rows, aligned with them). */
export function settingsHelp(extra: [string, string][] = []): string {
  return twoColumns([
    ...SETTINGS.flatMap((s): [string, string][] => [
      [s.flag ? `--${s.flag} <value>` : `$${s.env}`, s.help],
      ["", `env ${s.env}, default ${shownDefault(s)}`],
    ]),
    ...extra,
  ]);
}

/** The README's configuration table, generated from the same rows. */
export function settingsMarkdown(): string {
  const head = "| flag | environment variable | default | meaning |\n| --- | --- | --- | --- |";
  // Defaults like `./dust-mcp-data/<region id>` would render as HTML tags outside code spans.
  const shown = (d: string) => (d === "(none)" ? d : `\`${d}\``);
  const rows = SETTINGS.map((s) =>
    `| ${s.flag ? `\`--${s.flag}\`` : "(none)"} | \`${s.env}\` | ${
      shown(shownDefault(s))
    } | ${s.help} |`
  );
  return [head, ...rows].join("\n");
}

/** The canonical MCP resource URL of this instance (the audience of its MCP tokens). */
export function mcpResourceUrl(config: Config): string {
  return `${config.publicUrl}/mcp`;
}

/** The REST API resource URL (the audience of OAuth tokens issued for `/api/v1`). */
export function apiResourceUrl(config: Config): string {
  return `${config.publicUrl}/api/v1`;
}
