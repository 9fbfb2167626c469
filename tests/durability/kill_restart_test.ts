/**
 * Durability (issue 7, item 1): the real program as a child process under a concurrent write
 * load is killed with SIGKILL at a random moment (seeded: replay with DURABILITY_SEED=<seed>;
 * DURABILITY_ROUNDS sets the rounds, default 5), restarted on the same data directory, and
 * checked. After each kill, on disk: SQLite integrity_check and foreign_key_check, the FTS5
 * index, every ready file's blob (size and hash), orphans bounded by the blob writes in
 * flight at that kill, one active MCP token per user, audit entries of tool calls answered
 * well before the kill, `files_create` contents. After each restart: no temp file and no blob
 * without a files row left; over REST, every acknowledged write there and intact, every
 * write in flight at the kill all there or absent, agent runs the kill interrupted finished
 * as failed.
 *
 * On PostgreSQL (`DUST_MCP_TEST_DATABASE=postgres`) the same load, kills and checks, through
 * SQL for the database (durability_disk.ts). Two things differ by design: the restarted
 * instance cannot know the killed one is dead, so it ends the interrupted agent runs once their
 * leases pass (2 s here); and temp files and orphan blobs are not swept at start (other
 * instances may be writing them) but by the periodic sweep past its margin, so they are bounded
 * by the writes in flight at all kills so far rather than removed by each restart.
 */
import assert from "node:assert/strict";
import {
  type DurabilitySetup,
  freePort,
  prepareDataDir,
  ServerProcess,
} from "../helpers/durability_server.ts";
import {
  type DiskReport,
  durabilityEnv,
  durabilityOnPostgres,
  inspectDataDir,
  readScopedFiles,
  tempFilesOf,
  unreferencedBlobsOf,
  withDatabase,
} from "../helpers/durability_disk.ts";
import { call, Ledger, seededRandom } from "../helpers/durability_ledger.ts";
import { type LoadContext, runWriters } from "../helpers/durability_load.ts";
import { verifyLedger, verifyScopedFilesOnDisk } from "../helpers/durability_verify.ts";
import { startFakeModel } from "../helpers/fake_model.ts";

const ROUNDS = Number(Deno.env.get("DURABILITY_ROUNDS") ?? "5");
const SEED = Number(
  Deno.env.get("DURABILITY_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0],
);
/** The kill lands between these bounds after the load starts (the load lasts longer). */
const KILL_MIN_MS = 300;
const KILL_SPAN_MS = 2_200;
const LOAD_MS = 5_000;
/** Round 1 waits for every kind of write to be acknowledged once, at most this long. */
const FIRST_ROUND_LOAD_MS = 15_000;
/**
 * Audit entries are batched (src/core/audit.ts: "a crash loses at most the last 20 ms"):
 * a tool call answered longer than this before the kill must have its entry on disk. The
 * margin covers event-loop stalls of a loaded 2-core machine, not a lost batch.
 */
const AUDIT_SLACK_MS = 1_500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A folder data source in the global space, made over REST by the admin. */
async function createDataSource(base: string, setup: DurabilitySetup): Promise<string> {
  const w = `/api/v1/w/${setup.workspaceSId}`;
  const spaces = await call(base, `${w}/spaces`, { token: setup.adminToken });
  assert.equal(spaces.status, 200);
  const global = spaces.body.spaces.find((s: { kind: string }) => s.kind === "global").sId;
  const ds = await call(base, `${w}/spaces/${global}/data_sources`, {
    method: "POST",
    token: setup.adminToken,
    json: { name: "Durable docs" },
  });
  assert.equal(ds.status, 200, JSON.stringify(ds.body));
  return `${w}/spaces/${global}/data_sources/${ds.body.data_source.sId}`;
}

/**
 * Audit entries missing at a kill: this round's tool calls answered AUDIT_SLACK_MS before it,
 * and any entry an earlier kill found on disk. Records what is on disk now.
 */
function missingAuditEntries(
  disk: DiskReport,
  ledger: Ledger,
  round: number,
  killedAt: number,
): string[] {
  const missing = [...ledger.auditProbes].filter(([id, p]) =>
    p.round === round && p.at < killedAt - AUDIT_SLACK_MS && !disk.auditedPodIds.has(id)
  ).map(([id, p]) => `${id} (answered ${killedAt - p.at} ms before the kill)`);
  for (const id of ledger.audited) {
    if (!disk.auditedPodIds.has(id)) missing.push(`${id} (on disk at an earlier kill)`);
  }
  for (const [id, p] of ledger.auditProbes) {
    if (disk.auditedPodIds.has(id)) ledger.audited.add(id);
    else if (p.round === round) {
      ledger.unauditedMaxAgeMs = Math.max(ledger.unauditedMaxAgeMs, killedAt - p.at);
    }
  }
  return missing;
}

/** The member's conversation that `files_create` writes into. */
async function createScopedHome(base: string, setup: DurabilitySetup): Promise<string> {
  const r = await call(base, `/api/v1/w/${setup.workspaceSId}/assistant/conversations`, {
    method: "POST",
    token: setup.memberToken,
    json: { title: "scoped files", visibility: "unlisted" },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.conversation.sId;
}

/** The checks on the data directory of a dead server (`orphanBound`: see the module doc). */
function assertDiskSound(
  disk: DiskReport,
  ledger: Ledger,
  when: string,
  orphanBound = ledger.blobWritesInFlightAtKill,
): void {
  assert.deepEqual(disk.integrity, ["ok"], `${when}: PRAGMA integrity_check`);
  assert.equal(disk.foreignKeyViolations, 0, `${when}: PRAGMA foreign_key_check`);
  assert.equal(disk.searchIndex, "ok", `${when}: FTS5 integrity-check of the search index`);
  assert.deepEqual(disk.activeMcpTokens, [1, 1], `${when}: one active MCP token per user`);
  assert.deepEqual(disk.badBlobs, [], `${when}: ready files whose bytes are missing or cut`);
  for (const f of ledger.files.filter((f) => f.uploaded)) {
    assert.equal(disk.blobHashes.get(f.sId), f.sha256, `${when}: acknowledged file ${f.sId}`);
  }
  assert.ok(
    disk.orphanBlobs.length <= orphanBound,
    `${when}: ${disk.orphanBlobs.length} orphan blobs but only ` +
      `${orphanBound} blob writes were in flight at the kills that could have left them`,
  );
}

/** One run of the suite: its data directory, credentials, ledger and current server. */
interface Run {
  dataDir: string;
  port: number;
  /** Server flags (the fake model endpoint). */
  flags: Record<string, string>;
  /** The environment of its processes (PostgreSQL: the data directory's database). */
  env: Record<string, string>;
  /** Blob writes in flight at every kill so far (PostgreSQL sweeps orphans later). */
  blobWritesInFlightTotal: number;
  setup: DurabilitySetup;
  dataSourcePath: string;
  ledger: Ledger;
  server: ServerProcess | null;
}

/** CLI setup, first start, then the data source and the member's scoped-files conversation. */
async function startRun(dataDir: string, flags: Record<string, string>): Promise<Run> {
  const port = freePort();
  const env = await durabilityEnv(dataDir);
  const setup = await prepareDataDir(dataDir, env);
  const ledger = new Ledger();
  ledger.mcpToken.current = setup.mcpToken;
  const run: Run = {
    dataDir,
    port,
    flags,
    env,
    blobWritesInFlightTotal: 0,
    setup,
    dataSourcePath: "",
    ledger,
    server: null,
  };
  run.server = await ServerProcess.start(dataDir, port, flags, env);
  run.dataSourcePath = await createDataSource(run.server.url, setup);
  ledger.scopedConversationSId = await createScopedHome(run.server.url, setup);
  return run;
}

/** Whether every kind of write has been acknowledged at least once. */
function everyKindAcknowledged(ledger: Ledger): boolean {
  const counts = ledger.counts();
  return Object.entries(counts).every(([kind, n]) => kind === "agentMessages" || n > 0) &&
    ledger.mcpToken.replaced.length > 0 && ledger.auditProbes.size > 0;
}

/**
 * Run the writers, SIGKILL the server after `killAfter` ms (round 1: once every kind of write
 * was acknowledged, within the load's bound, so no kind goes unchecked), wait for the writers.
 */
async function loadAndKill(
  run: Run,
  round: number,
  killAfter: number,
): Promise<{ killedAt: number; afterMs: number }> {
  const { ledger } = run;
  const ctx: LoadContext = {
    base: run.server!.url,
    setup: run.setup,
    dataSourcePath: run.dataSourcePath,
    ledger,
    seed: SEED,
    round,
    killed: false,
    deadline: Date.now() + (round === 1 ? FIRST_ROUND_LOAD_MS : LOAD_MS),
    errors: [],
  };
  const loadStart = Date.now();
  const writers = runWriters(ctx);
  await sleep(killAfter);
  while (round === 1 && !everyKindAcknowledged(ledger) && Date.now() < ctx.deadline - 250) {
    await sleep(25);
  }
  ctx.killed = true;
  const killedAt = Date.now();
  ledger.blobWritesInFlightAtKill = ledger.files.filter((f) => !f.uploaded).length +
    [...ledger.scopedFiles.values()].filter((f) => f.pending !== null).length;
  run.blobWritesInFlightTotal += ledger.blobWritesInFlightAtKill;
  const killed = run.server!;
  await killed.kill();
  run.server = null;
  await writers;
  assert.deepEqual(
    ctx.errors,
    [],
    `round ${round} (seed ${SEED}): errors under load; server log:\n${killed.stderr.slice(-3000)}`,
  );
  return { killedAt, afterMs: killedAt - loadStart };
}

/**
 * The dead server's data directory: database, files, audit entries, `files_create` files.
 * Returns the orphan blobs found (the restart must sweep them).
 */
async function checkAfterKill(run: Run, round: number, killedAt: number): Promise<number> {
  const disk = await inspectDataDir(run.dataDir);
  assertDiskSound(disk, run.ledger, `round ${round} after SIGKILL`, orphanBound(run));
  assert.deepEqual(
    missingAuditEntries(disk, run.ledger, round, killedAt),
    [],
    "tool calls lost from the audit log",
  );
  const scoped = await readScopedFiles(run.dataDir, run.ledger.scopedConversationSId);
  assert.deepEqual(
    verifyScopedFilesOnDisk(run.ledger, scoped),
    [],
    `round ${round} (seed ${SEED}): files_create writes on disk`,
  );
  return disk.orphanBlobs.length;
}

/** Orphan blobs a dead server's directory may hold: see the module doc. */
function orphanBound(run: Run): number {
  return durabilityOnPostgres() ? run.blobWritesInFlightTotal : run.ledger.blobWritesInFlightAtKill;
}

/** PostgreSQL: wait (bounded) until the restarted instance took the dead one's runs over. */
async function waitForTakeovers(run: Run, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const left = await withDatabase(run.dataDir, async (db) =>
      Number(
        (await db.get<{ n: number }>(
          "SELECT count(*) AS n FROM agent_messages WHERE status = 'created'",
        ))?.n,
      ));
    if (left === 0) return;
    await sleep(200);
  }
}

/** Restart on the same directory; no temp file left; every write checked over REST. */
async function restartAndVerify(run: Run, round: number): Promise<number> {
  const restartAt = Date.now();
  run.server = await ServerProcess.start(run.dataDir, run.port, run.flags, run.env);
  const restartMs = Date.now() - restartAt;
  if (durabilityOnPostgres()) await waitForTakeovers(run);
  else {
    assert.deepEqual(
      await tempFilesOf(run.dataDir),
      [],
      "a restart removes crash leftovers in tmp",
    );
    assert.deepEqual(
      await unreferencedBlobsOf(run.dataDir),
      [],
      "a restart removes the blobs no files row references",
    );
  }
  const failures = await verifyLedger(run.server.url, run.setup, run.dataSourcePath, run.ledger);
  assert.deepEqual(failures, [], `round ${round} (seed ${SEED}): lost or damaged writes`);
  return restartMs;
}

/** The figures of a run, and proof that every kind of write and the in-flight checks ran. */
function reportRun(ledger: Ledger, started: number, orphans: number): void {
  const inFlight = Object.fromEntries(ledger.inFlight);
  const checked = [...ledger.inFlight.values()].reduce((n, c) => n + c.present + c.absent, 0);
  console.log(
    `[durability] ${ROUNDS} rounds in ${Date.now() - started} ms; in-flight writes at kills ` +
      `(present/absent after restart): ${JSON.stringify(inFlight)}; ` +
      `agent runs interrupted and failed by a restart ${ledger.interruptedRuns}; ` +
      `tool calls ${ledger.auditProbes.size}, answered just before a kill and not audited ` +
      `${ledger.auditProbes.size - ledger.audited.size} (answered at most ` +
      `${Number.isFinite(ledger.unauditedMaxAgeMs) ? ledger.unauditedMaxAgeMs : "-"} ms before ` +
      `it); orphan blobs ${orphans}`,
  );
  assert.ok(checked > 0, "some write was in flight at a kill (else that check is idle)");
  for (const [kind, n] of Object.entries(ledger.counts())) {
    if (kind !== "agentMessages") assert.ok(n > 0, `the load acknowledged some ${kind}`);
  }
}

Deno.test("[durability] acknowledged writes survive SIGKILL at random moments; in-flight writes are all there or absent", async () => {
  console.log(`[durability] seed=${SEED} rounds=${ROUNDS} (replay: DURABILITY_SEED=${SEED})`);
  const started = Date.now();
  const rng = seededRandom(SEED);
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-durability-" });
  // Agent runs (the member's posts mention dust): every other model call never answers, so
  // some runs are mid-flight at each kill and the restart must finish them (as failed).
  let modelCalls = 0;
  await using model = await startFakeModel([
    () => (modelCalls++ % 2 ? { hang: true } : { content: `answer ${modelCalls}` }),
  ]);
  const flags = durabilityOnPostgres()
    ? { ...model.flags, "work-lease-seconds": "2" }
    : model.flags;
  let run: Run | null = null;
  try {
    run = await startRun(dataDir, flags);
    for (let round = 1; round <= ROUNDS; round++) {
      const killAfter = KILL_MIN_MS + Math.floor(rng() * KILL_SPAN_MS);
      const { killedAt, afterMs } = await loadAndKill(run, round, killAfter);
      const orphans = await checkAfterKill(run, round, killedAt);
      const restartMs = await restartAndVerify(run, round);
      console.log(
        `[durability] round ${round}: killed after ${afterMs} ms, orphan blobs ${orphans} ` +
          `(${
            durabilityOnPostgres() ? "left to the periodic sweep" : "swept by the restart"
          }), restart ${restartMs} ms, ` +
          `acknowledged so far ${JSON.stringify(run.ledger.counts())}`,
      );
    }
    assert.equal(await run.server!.stop(), 0, "clean stop after the last round");
    run.server = null;
    const final = await inspectDataDir(dataDir);
    assertDiskSound(final, run.ledger, "after the final clean stop", orphanBound(run));
    if (!durabilityOnPostgres()) {
      assert.deepEqual(final.orphanBlobs, [], "no orphan blob after the last restart and stop");
    }
    reportRun(run.ledger, started, final.orphanBlobs.length);
  } finally {
    await run?.server?.kill();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
