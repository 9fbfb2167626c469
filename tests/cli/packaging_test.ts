/**
 * The README, deno.json tasks, Dockerfile and .ci/run cannot all be exercised here (no Docker
 * engine, no network for `deno compile`), so these tests pin the lines they depend on.
 */
import assert from "node:assert/strict";
import { SETTINGS, settingsMarkdown } from "../../src/config.ts";
import { COMMANDS } from "../../src/cli.ts";
import { normaliseTable, readTable, renderReadme } from "../../scripts/readme.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

Deno.test("[docs] the README's configuration table is the one config.ts generates", async () => {
  const table = readTable(await read("README.md"));
  assert.ok(table, "README.md has the config:start / config:end markers");
  assert.equal(
    normaliseTable(table),
    normaliseTable(settingsMarkdown()),
    "README.md is stale: run `deno task readme`",
  );
});

Deno.test("[docs] the readme script puts the generated table between the markers", () => {
  const out = renderReadme("intro\n<!-- config:start -->\nold\n<!-- config:end -->\nrest\n");
  assert.equal(normaliseTable(readTable(out)!), normaliseTable(settingsMarkdown()));
  assert.ok(out.startsWith("intro\n") && out.endsWith("<!-- config:end -->\nrest\n"));
  assert.throws(() => renderReadme("no markers"), /needs the markers/);
});

Deno.test("[docs] the README gives the start and test commands and how to get Deno", async () => {
  const readme = await read("README.md");
  for (
    const text of [
      "deno task start",
      "--region eu",
      "deno task test",
      "npm install -g deno@2.9.6",
      "deno task compile",
      "docker build",
      "dust-mcp backup --to",
      "VACUUM INTO",
      "dust-mcp.db-wal",
      "files/tmp/",
    ]
  ) assert.ok(readme.includes(text), `README mentions ${text}`);
});

Deno.test("[docs] deno.json has every task the README names; compile never uses -A", async () => {
  const { tasks } = JSON.parse(await read("deno.json")) as { tasks: Record<string, string> };
  for (const t of ["start", "dev", "test", "ok", "bench", "compile", "readme"]) {
    assert.ok(tasks[t], `task ${t}`);
  }
  assert.match(tasks.compile, /^deno compile /);
  assert.doesNotMatch(tasks.compile, /(^|\s)(-A|--allow-all)(\s|$)/);
  assert.match(tasks.compile, /--output dust-mcp\b/);
  assert.match(tasks.compile, /\bmain\.ts$/);
  assert.match(tasks.ok, /deno fmt --check|deno task check/);
});

Deno.test("[docs] deno task compile includes every Worker module (compile cannot see them)", async () => {
  const { tasks } = JSON.parse(await read("deno.json")) as { tasks: Record<string, string> };
  const workers: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, root))) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory) await walk(`${path}/`);
      else if (e.name.endsWith(".ts")) {
        const text = await read(path);
        for (
          const m of text.matchAll(
            /new Worker\(\s*new URL\("(\.{1,2}\/[^"]+)", import\.meta\.url\)/g,
          )
        ) {
          workers.push(new URL(m[1], new URL(path, root)).pathname.slice(root.pathname.length));
        }
      }
    }
  };
  await walk("src/");
  for (const w of workers) assert.ok(tasks.compile.includes(`--include ${w}`), `--include ${w}`);
});

Deno.test("[docs] the Dockerfile compiles in a build stage and runs as non-root on /data", async () => {
  const lines = (await read("Dockerfile")).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const froms = lines.filter((l) => l.startsWith("FROM "));
  assert.equal(froms.length, 2, "multi-stage: build + runtime");
  assert.match(froms[0], /^FROM denoland\/deno:2\.9\.6 AS \w+$/);
  assert.match(froms[1], /distroless\/cc-debian12|debian:\d+-slim/, "small glibc runtime");
  assert.ok(lines.includes("RUN deno task compile"));
  const user = lines.filter((l) => l.startsWith("USER ")).at(-1);
  assert.ok(user, "a USER line");
  assert.doesNotMatch(user, /^USER (root|0)(:|$)/, "not root");
  assert.ok(lines.includes("VOLUME /data"));
  assert.match(lines.find((l) => l.startsWith("EXPOSE "))!, /\b4310\b/);
  const entry = lines.find((l) => l.startsWith("ENTRYPOINT "))!;
  const argv = JSON.parse(entry.slice("ENTRYPOINT ".length)) as string[];
  const cmd = JSON.parse(lines.find((l) => l.startsWith("CMD "))!.slice("CMD ".length));
  assert.deepEqual(cmd, ["serve"], "the default command serves; other commands replace it");
  const env = Object.fromEntries(
    lines.filter((l) => l.startsWith("ENV ")).flatMap((l) =>
      l.slice(4).trim().split(/\s+/).map((kv) => kv.split("=") as [string, string])
    ),
  );
  assert.equal(env.DUST_MCP_HOST, "0.0.0.0", "listens on every interface");
  assert.equal(env.DUST_MCP_DATA_DIR, "/data", "every command uses the /data volume");
  const copied = lines.find((l) => l.includes("/app/dust-mcp"))!;
  assert.deepEqual(argv, [copied.split(/\s+/).at(-1)], "the entrypoint is the copied binary");
  // The image's defaults must be real settings of config.ts, or they would be ignored.
  for (const name of Object.keys(env)) {
    assert.ok(SETTINGS.some((s) => s.env === name), `${name} is a setting`);
  }
});

Deno.test("[docs] .dockerignore keeps data directories and the repo's extras out", async () => {
  const rules = (await read(".dockerignore")).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  assert.equal(rules[0], "*", "everything is excluded by default");
  assert.deepEqual(rules.slice(1).sort(), ["!deno.json", "!deno.lock", "!main.ts", "!src/"]);
});

Deno.test("[docs] CI, Docker and the README pin the same Deno version", async () => {
  const ci = (await read(".ci/run")).match(/^DENO_VERSION=(\S+)$/m)?.[1];
  const docker = (await read("Dockerfile")).match(/^FROM denoland\/deno:(\S+)/m)?.[1];
  const readme = (await read("README.md")).match(/npm install -g deno@(\S+)/)?.[1];
  assert.ok(ci);
  assert.equal(docker, ci);
  assert.equal(readme, ci);
});

Deno.test("[docs] the README shows every operator command with its required flags", async () => {
  const readme = await read("README.md");
  for (const c of COMMANDS) {
    const line = readme.split("\n").find((l) =>
      `${l} `.includes(`deno task start ${c.words.join(" ")} `)
    );
    assert.ok(line, `README shows \`deno task start ${c.words.join(" ")}\``);
    for (const f of Object.keys(c.flags)) {
      if (!c.optional?.includes(f)) assert.ok(line.includes(`--${f} `), `${line} gives --${f}`);
    }
  }
});

Deno.test("[docs] src/ reads no source file at run time (the compiled binary has none)", async () => {
  // `deno compile` embeds modules, not files: reading a sibling file through import.meta or a
  // relative path works under `deno run` and breaks only in the binary. Worker entry points
  // are the one allowed use (pinned with --include in the compile task, tested above), with
  // lines marked `// dev-only` (a branch a compiled binary never takes).
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, root))) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory) await walk(`${path}/`);
      else if (/\.tsx?$/.test(e.name)) {
        const lines = (await read(path)).split("\n");
        lines.forEach((l, i) => {
          if (/^\s*(\/\/|\*)/.test(l) || /\/\/ dev-only\b/.test(l)) return;
          const sourceRead = /import\.meta\.(dirname|filename)|fromFileUrl|Deno\.readTextFile/
            .test(l) || (/import\.meta\.url/.test(l) && !/new Worker\(/.test(l));
          if (sourceRead) offenders.push(`${path}:${i + 1}: ${l.trim()}`);
        });
      }
    }
  };
  await walk("src/");
  assert.deepEqual(offenders, []);
});
