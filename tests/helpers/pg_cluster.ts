/**
 * A throwaway PostgreSQL cluster for tests: Debian's server binaries (`initdb`, `pg_ctl`), a
 * temp data directory, 127.0.0.1 on a free port, trust authentication, `fsync=off`. When the
 * test run is root (CI), the cluster runs as an unprivileged user (`postgres` when the package
 * created it, else `nobody`): PostgreSQL refuses to run as root.
 * @module
 */
import { join } from "node:path";

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** The directory of Debian's PostgreSQL server binaries (newest version), or null. */
export function findPgBin(): string | null {
  const base = "/usr/lib/postgresql";
  let versions: string[] = [];
  try {
    versions = [...Deno.readDirSync(base)].map((e) => e.name).filter((n) => /^\d+$/.test(n));
  } catch {
    return null;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(base, v, "bin");
    try {
      Deno.statSync(join(bin, "initdb"));
      return bin;
    } catch { /* next */ }
  }
  return null;
}

function runAsUser(): string | null {
  if (Deno.uid() !== 0) return null;
  try {
    const passwd = Deno.readTextFileSync("/etc/passwd");
    if (/^postgres:/m.test(passwd)) return "postgres";
  } catch { /* fall through */ }
  return "nobody";
}

async function run(cmd: string[], user: string | null, cwd: string): Promise<string> {
  const argv = user ? ["runuser", "-u", user, "--", ...cmd] : cmd;
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd[0].split("/").pop()} failed: ${text.trim().slice(-2000)}`);
  }
  return text;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Start a cluster; throws with one line saying what to install when the binaries are missing. */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin) {
    throw new Error(
      "PostgreSQL server binaries not found under /usr/lib/postgresql: install Debian's postgresql package",
    );
  }
  const user = runAsUser();
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-pg-" });
  if (user) await run(["chown", user, dir], null, "/");
  const data = join(dir, "data");
  await run(
    [
      join(bin, "initdb"),
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-locale",
    ],
    user,
    dir,
  );
  for (let attempt = 1;; attempt++) {
    const port = freePort();
    const opts = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses=127.0.0.1",
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c max_connections=400",
      "-c shared_buffers=128MB",
    ].join(" ");
    try {
      await run(
        [
          join(bin, "pg_ctl"),
          "-D",
          data,
          "-o",
          opts,
          "-l",
          join(dir, "log"),
          "-w",
          "-t",
          "60",
          "start",
        ],
        user,
        dir,
      );
    } catch (e) {
      if (attempt >= 3) throw e;
      continue;
    }
    const stop = async () => {
      await run([join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"], user, dir)
        .catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dir, stop };
  }
}
