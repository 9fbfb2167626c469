/**
 * The database engine a benchmark runs on. `bench/run.ts` runs every module once on SQLite and,
 * for the modules that export `engines` naming `"postgres"`, once more on PostgreSQL: on the
 * server `BENCH_DATABASE_URL` names, else on a throwaway cluster of Debian's binaries (as the
 * tests start one), else not at all (the summary says so). A module asks for its server's
 * database with {@link benchDatabase}: no flag on SQLite; on PostgreSQL, a fresh database of its
 * own, dropped by `drop()`.
 * @module
 */
import postgres from "postgres";

/** Set by bench/run.ts for the PostgreSQL pass: the server's admin URL (`…/postgres`). */
export const BENCH_PG_ENV = "BENCH_PG_ADMIN_URL";

export type BenchEngine = "sqlite" | "postgres";

/** The engine of the pass under way. */
export function benchEngine(): BenchEngine {
  return Deno.env.get(BENCH_PG_ENV) ? "postgres" : "sqlite";
}

export interface BenchDatabase {
  /** Flags for `resolveConfig` (`database-url` on PostgreSQL; none on SQLite). */
  flags: Record<string, string>;
  drop(): Promise<void>;
}

/** A database for one benchmark server: SQLite in its data directory, or a fresh PostgreSQL one. */
export async function benchDatabase(): Promise<BenchDatabase> {
  const admin = Deno.env.get(BENCH_PG_ENV);
  if (!admin) return { flags: {}, drop: () => Promise.resolve() };
  const name = `bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const sql = postgres(admin, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await sql.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    flags: { "database-url": url.href },
    async drop() {
      const s = postgres(admin, { max: 1, onnotice: () => {} });
      try {
        await s.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await s.end();
      }
    },
  };
}
