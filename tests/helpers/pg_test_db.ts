/**
 * A PostgreSQL database of its own per test server or test database, copied from a migrated
 * template (`CREATE DATABASE … TEMPLATE`, a file copy: milliseconds), on the cluster the test
 * runner started (`DUST_MCP_TEST_PG_URL`, template `DUST_MCP_TEST_PG_TEMPLATE`), dropped after.
 * @module
 */
import postgres from "postgres";

/**
 * Run one administrative statement on a connection of its own, closed at once: Deno's test
 * sanitizers refuse a socket left open past the test that opened it.
 */
async function admin(statement: string): Promise<void> {
  const url = Deno.env.get("DUST_MCP_TEST_PG_URL");
  if (!url) {
    throw new Error(
      "DUST_MCP_TEST_DATABASE=postgres needs DUST_MCP_TEST_PG_URL: run the suite with `deno task test`",
    );
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The URL of database `name` on the test cluster. */
export function testDatabaseUrl(name: string): string {
  const url = new URL(Deno.env.get("DUST_MCP_TEST_PG_URL")!);
  url.pathname = `/${name}`;
  return url.href;
}

export interface PgTestDatabase extends AsyncDisposable {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh database: migrated (a copy of the template) unless `empty`. */
export async function createPgTestDatabase(options: { empty?: boolean } = {}): Promise<
  PgTestDatabase
> {
  const name = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
  const template = options.empty
    ? "template0"
    : Deno.env.get("DUST_MCP_TEST_PG_TEMPLATE") ?? "dust_template";
  for (let attempt = 1;; attempt++) {
    try {
      await admin(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      break;
    } catch (e) {
      // Another test copying the same template at this instant: try again shortly.
      if (attempt >= 20 || !/being accessed by other users/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  return { name, url: testDatabaseUrl(name), drop, [Symbol.asyncDispose]: drop };
}
