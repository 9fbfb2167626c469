/**
 * `dust-mcp doctor [--client …] [--url …] [--workspace …]`: run the connection doctor against
 * the public URL (or `--url`) with this instance's database for the simulated user, print one
 * line per step (and what to change under each failure), exit 0 when nothing failed, 1
 * otherwise.
 * @module
 */
import type { Config } from "../config.ts";
import type { Db } from "../db/db.ts";
import { doctorSubject } from "../core/doctor_approval.ts";
import { CLIENT_IDS, pickClients } from "./clients.ts";
import { type DoctorReport, runDoctor } from "./run.ts";
import type { DoctorStep } from "./steps.ts";

export class DoctorUsageError extends Error {}

export async function runDoctorCommand(
  config: Config,
  openDb: () => Promise<Db>,
  flags: { client?: string; url?: string; workspace?: string },
  out: (line: string) => void,
): Promise<number> {
  const clients = pickClients(flags.client);
  if (!clients) {
    throw new DoctorUsageError(`--client: one of ${CLIENT_IDS.join(", ")}, all`);
  }
  if (flags.url !== undefined && !/^https?:\/\/[^/]+/i.test(flags.url)) {
    throw new DoctorUsageError("--url: an http(s) URL");
  }
  const db = await openDb();
  const subject = await doctorSubject(db, flags.workspace ?? null);
  const report = await runDoctor({
    db,
    url: flags.url ?? config.publicUrl,
    issuer: config.publicUrl,
    workspaceId: subject.workspace.id,
    userId: subject.userId,
    clients,
  });
  for (const line of formatReport(report)) out(line);
  return report.ok ? 0 : 1;
}

const MARK: Record<DoctorStep["status"], string> = {
  pass: "pass",
  warn: "WARN",
  fail: "FAIL",
  skip: "skip",
};

function stepLines(s: DoctorStep): string[] {
  const ms = s.ms === null ? "" : ` (${s.ms} ms)`;
  const lines = [`  ${MARK[s.status]}  ${s.title}: ${s.why}${ms}`];
  if (s.fix && s.status !== "pass") lines.push(`        change: ${s.fix}`);
  return lines;
}

/** The report as text lines. */
export function formatReport(r: DoctorReport): string[] {
  const lines = [`Connection doctor for ${r.url} (issuer ${r.issuer})`];
  for (const s of r.general) lines.push(...stepLines(s));
  for (const c of r.clients) {
    lines.push("", `${c.name}: ${c.ok ? "ok" : "FAILS"}`);
    for (const s of c.steps) lines.push(...stepLines(s));
  }
  lines.push("", r.ok ? "Every step passed." : 'Some steps failed: see "change:" above.');
  return lines;
}
