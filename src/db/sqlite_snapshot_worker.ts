/**
 * Entry point of the snapshot worker (a Web Worker): `node:sqlite` runs a snapshot
 * synchronously, so it runs here, on a connection of its own, never on the server's event loop.
 * One message `{ source, target, method }`, one answer `{ ok: true } | { ok: false, error }`.
 * @module
 */
/// <reference lib="deno.worker" />
import { type SnapshotRequest, takeSnapshotHere } from "./sqlite_snapshot.ts";

self.onmessage = async (event: MessageEvent<SnapshotRequest>) => {
  try {
    await takeSnapshotHere(event.data);
    self.postMessage({ ok: true });
  } catch (e) {
    self.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
};
