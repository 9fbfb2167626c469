/**
 * Entry point of a search worker (a Web Worker): its own read-only SQLite connection, opened
 * on the first search, so FTS5 ranking runs off the main event loop. Messages:
 * `{id, kind: "init", dbPath}`, `{id, kind: "search" | "nodes" | "grep", request}`;
 * every message but `init` is answered `{id, ok, result | error}`.
 * @module
 */
/// <reference lib="deno.worker" />
import type { DatabaseSync as Db } from "node:sqlite";
import { openSqliteConnection as openDb } from "../db/sqlite.ts";
import { runSearchQuery, type SearchRequest } from "./search_query.ts";
import { type GrepRequest, runGrep } from "./grep_query.ts";
import { type NodeQueryRequest, runNodeQuery } from "./node_query.ts";

let dbPath: string | null = null;
let db: Db | null = null;

type Message =
  | { id: number; kind: "init"; dbPath: string }
  | { id: number; kind: "search"; request: SearchRequest }
  | { id: number; kind: "grep"; request: GrepRequest }
  | { id: number; kind: "nodes"; request: NodeQueryRequest };

// Loaded: jobs' time limits start now (loading the modules is not the job's time).
self.postMessage({ id: 0, ok: true, ready: true });

self.onmessage = (event: MessageEvent<Message>) => {
  const msg = event.data;
  if (msg.kind === "init") {
    dbPath = msg.dbPath;
    return;
  }
  try {
    if (msg.kind === "search" || msg.kind === "nodes") {
      if (!dbPath) throw new Error("search worker used before init");
      db ??= openDb(dbPath, { readOnly: true });
      const result = msg.kind === "search"
        ? runSearchQuery(db, msg.request)
        : runNodeQuery(db, msg.request);
      self.postMessage({ id: msg.id, ok: true, result });
    } else {
      self.postMessage({ id: msg.id, ok: true, result: runGrep(msg.request) });
    }
  } catch (e) {
    self.postMessage({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
};
