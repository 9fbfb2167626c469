/**
 * JSON-lines logger. Secrets never reach it: tokens in URLs are redacted by
 * {@link redactUrl}, and callers log ids, never credentials.
 * @module
 */
import type { LogLevel } from "../config.ts";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** False when lines of `level` are dropped: callers skip building their fields. */
  enabled?(level: LogLevel): boolean;
}

export type LogSink = (line: string) => void;

const encoder = new TextEncoder();

/** Writes to stdout synchronously so lines survive a crash. */
export const stdoutSink: LogSink = (line) => {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
};

export function createLogger(level: LogLevel, sink: LogSink = stdoutSink): Logger {
  const min = ORDER[level];
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    enabled: (lvl) => ORDER[lvl] >= min,
  };
}

const SECRET_PARAMS = new Set([
  "token",
  "access_token",
  "refresh_token",
  "code",
  "code_verifier",
  "client_secret",
  "password",
  "state",
  "csrf",
  "setup",
  // The consent page's request id: an opaque bearer of a pending authorization (stored hashed).
  "request",
]);

function redactValue(key: string, value: string, depth: number): string {
  if (SECRET_PARAMS.has(key.toLowerCase())) return "REDACTED";
  // A local URL inside a parameter (sign-in's `next=/authorize/consent?request=…`) carries
  // its own query string: redact that too (one level deep; deeper nesting is dropped whole).
  if (value.startsWith("/") && value.includes("?")) {
    return depth > 0 ? "REDACTED" : redactUrl(new URL(value, "http://local"), depth + 1);
  }
  return value;
}

/** A path + query with the values of secret-bearing query parameters replaced by `REDACTED`. */
export function redactUrl(url: URL, depth = 0): string {
  if (!url.search) return url.pathname;
  const parts: string[] = [];
  for (const [k, v] of url.searchParams) {
    parts.push(`${k}=${redactValue(k, v, depth)}`);
  }
  return `${url.pathname}?${parts.join("&")}`;
}
