/**
 * `deno task test [-- <test files or deno test flags>]`: set up what the suite needs, then run
 * it on each engine.
 *
 * 1. Node tools the tests run as separate processes (`tests/helpers/node_tools.json`: mcp-remote,
 *    the S3-protocol test server, …) are installed with npm into a cache outside the repo
 *    (`~/.cache/dust-mcp/node-tools`, or `$DUST_MCP_CI_CACHE/node-tools`), reused while the list
 *    is unchanged.
 * 2. Debian packages (chromium for the browser tests, postgresql for the PostgreSQL run) are
 *    installed with apt-get when missing and this runs as root; otherwise one line says what to
 *    install, and the tests that need them fail saying the same.
 * 3. The suite runs on SQLite, then on PostgreSQL + S3-compatible storage: a throwaway cluster on
 *    127.0.0.1 (as an unprivileged user) and a loopback S3 server are started for the run and
 *    removed after it. `DUST_MCP_TEST_DATABASE=sqlite` or `=postgres` runs one engine only.
 *
 * Exit status: 0 when every run passed. The last lines give each run's counts.
 * @module
 */
import { join } from "node:path";
import { findPgBin, startPgCluster } from "../tests/helpers/pg_cluster.ts";

const root = new URL("..", import.meta.url).pathname;
const home = Deno.env.get("HOME") ?? "/root";
const cache = Deno.env.get("DUST_MCP_CI_CACHE") ?? join(home, ".cache/dust-mcp");

function say(line: string): void {
  console.log(`[test setup] ${line}`);
}

async function sh(cmd: string, args: string[], opts: { cwd?: string; quiet?: boolean } = {}) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    stdout: opts.quiet ? "piped" : "inherit",
    stderr: opts.quiet ? "piped" : "inherit",
  }).output();
  return out;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function which(cmd: string): Promise<boolean> {
  const out = await sh("sh", ["-c", `command -v ${cmd}`], { quiet: true }).catch(() => null);
  return !!out?.success;
}

async function ensureNodeTools(): Promise<string | null> {
  const spec = join(root, "tests/helpers/node_tools.json");
  const dir = join(cache, "node-tools");
  const wanted = await Deno.readTextFile(spec);
  // npm rewrites package.json: compare with the copy kept beside it.
  const have = await Deno.readTextFile(join(dir, "node_tools.json")).catch(() => null);
  if (have !== wanted || !exists(join(dir, "node_modules"))) {
    if (!(await which("npm"))) {
      say("npm not found: install Node.js and npm (node tools for the tests)");
      return null;
    }
    say(`installing node tools into ${dir}`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(join(dir, "package.json"), wanted);
    const out = await sh("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: dir,
      quiet: true,
    });
    if (!out.success) {
      say(`npm install failed: ${new TextDecoder().decode(out.stderr).trim().slice(-500)}`);
      return null;
    }
    await Deno.writeTextFile(join(dir, "node_tools.json"), wanted);
  }
  return join(dir, "node_modules");
}

/** apt-get install when root and missing; returns the packages still missing. */
async function ensureDebian(wanted: { pkg: string; present: () => boolean | Promise<boolean> }[]) {
  const missing: string[] = [];
  for (const w of wanted) if (!(await w.present())) missing.push(w.pkg);
  if (missing.length === 0) return [];
  if (Deno.uid() === 0 && await which("apt-get")) {
    say(`installing Debian packages: ${missing.join(" ")}`);
    await sh("apt-get", ["update", "-qq"], { quiet: true });
    const out = await sh("apt-get", [
      "install",
      "-y",
      "-qq",
      "--no-install-recommends",
      ...missing,
    ], { quiet: true });
    if (!out.success) say(`apt-get install failed for ${missing.join(" ")}`);
  }
  const still: string[] = [];
  for (const w of wanted) if (!(await w.present())) still.push(w.pkg);
  for (const pkg of still) say(`${pkg} is missing: install Debian's ${pkg} package`);
  return still;
}

interface RunResult {
  engine: string;
  status: number;
  passed: number;
  failed: number;
}

async function runSuite(engine: string, env: Record<string, string>, args: string[]) {
  const files = args.filter((a) => !a.startsWith("-"));
  const flags = args.filter((a) => a.startsWith("-"));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--parallel",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      "--allow-sys",
      ...flags,
      ...(files.length ? files : ["tests/"]),
    ],
    cwd: root,
    env: { ...env, DUST_MCP_TEST_DATABASE: engine },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
  }
  const { code } = await child.status;
  // deno-lint-ignore no-control-regex
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
  const m = /(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/.exec(plain);
  return {
    engine,
    status: code,
    passed: m ? Number(m[1]) : 0,
    failed: m ? Number(m[2]) : 0,
  } satisfies RunResult;
}

async function main(): Promise<number> {
  const chosen = Deno.env.get("DUST_MCP_TEST_DATABASE");
  const engines = chosen ? [chosen] : ["sqlite", "postgres"];
  for (const e of engines) {
    if (e !== "sqlite" && e !== "postgres") {
      say(`DUST_MCP_TEST_DATABASE=${e}: use sqlite or postgres`);
      return 2;
    }
  }
  const env: Record<string, string> = {};
  const tools = await ensureNodeTools();
  if (tools) env.DUST_MCP_NODE_TOOLS = tools;
  await ensureDebian([
    { pkg: "chromium", present: () => exists("/usr/bin/chromium") },
    ...(engines.includes("postgres")
      ? [{ pkg: "postgresql", present: () => findPgBin() !== null }]
      : []),
  ]);

  const results: RunResult[] = [];
  for (const engine of engines) {
    say(`running the suite on ${engine}`);
    if (engine === "sqlite") {
      results.push(await runSuite(engine, env, Deno.args));
      continue;
    }
    const { prepareEngines } = await import("../tests/helpers/engines.ts");
    let services: Awaited<ReturnType<typeof prepareEngines>>;
    try {
      services = await prepareEngines(await startPgCluster());
    } catch (e) {
      say(`cannot start PostgreSQL / S3 for the tests: ${(e as Error).message}`);
      results.push({ engine, status: 1, passed: 0, failed: 0 });
      continue;
    }
    try {
      results.push(await runSuite(engine, { ...env, ...services.env }, Deno.args));
    } finally {
      await services.stop();
    }
  }
  for (const r of results) {
    console.log(
      `${r.engine}: ${r.passed} passed, ${r.failed} failed${r.status ? " (FAILED)" : ""}`,
    );
  }
  return results.some((r) => r.status !== 0) ? 1 : 0;
}

Deno.exit(await main());
