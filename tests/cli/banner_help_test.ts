/**
 * The rough edges of the command line: `--help` in aligned columns (no flag running into its
 * text), a command group's help (`users --help`), and the start banner — first, once, whole,
 * with the real URL when `--port 0` picked the port, the setup link working, logs after it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli.ts";
import { resolveConfig, SETTINGS } from "../../src/config.ts";
import { withListeningPort } from "../../src/server.ts";
import { captureIo } from "./capture_io.ts";
import { engineEnv } from "../helpers/server.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("[cli] --help: every flag and command in aligned columns, none running into its text", async () => {
  const io = captureIo();
  assert.equal(await runCli(["--help"], io, {}), 0);
  const lines = io.stdout.join("\n").split("\n");
  for (const s of SETTINGS.filter((x) => x.flag)) {
    const line = lines.find((l) => l.trimStart().startsWith(`--${s.flag} <value>`))!;
    assert.ok(line, `--${s.flag}`);
    const rest = line.trimStart().slice(`--${s.flag} <value>`.length);
    assert.match(rest, /^( {2,}\S|$)/, `a gap after --${s.flag}: ${JSON.stringify(line)}`);
  }
  const columns = new Set(
    lines.filter((l) => /^ {2}--[a-z-]+ <value> {2,}\S/.test(l))
      .map((l) => /^( {2}--[a-z-]+ <value> +)/.exec(l)![1].length),
  );
  assert.equal(columns.size, 1, `every setting's text starts in one column: ${[...columns]}`);
  const help = lines.find((l) => l.trimStart().startsWith("--help"))!;
  assert.equal(/^( {2}--help +)/.exec(help)![1].length, [...columns][0], "--help too");
});

Deno.test("[cli] `users --help` lists the group's commands; `users` alone says which to name", async () => {
  const io = captureIo();
  assert.equal(await runCli(["users", "--help"], io, {}), 0);
  assert.match(io.stdout.join("\n"), /users create +Create a user/);
  const bare = captureIo();
  assert.equal(await runCli(["api-keys"], bare, {}), 2);
  assert.match(bare.stderr.join("\n"), /api-keys: name a command: api-keys create, api-keys list/);
  const sub = captureIo();
  assert.equal(await runCli(["users", "create", "--help"], sub, {}), 0);
  assert.match(sub.stdout.join("\n"), /--email <email> +Email address/);
});

Deno.test("[cli] --port 0: the public URL names the port the server got (an explicit URL stays)", () => {
  const zero = resolveConfig({ port: "0" }, {});
  assert.equal(withListeningPort(zero, 43123).publicUrl, "http://localhost:43123");
  const explicit = resolveConfig({ port: "0", "public-url": "https://mcp.example.com" }, {});
  assert.equal(withListeningPort(explicit, 43123).publicUrl, "https://mcp.example.com");
  const fixed = resolveConfig({ port: "4999" }, {});
  assert.equal(withListeningPort(fixed, 4999), fixed);
});

Deno.test("[cli] the banner comes first, once and whole, with the real URL; JSON logs after it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-banner-" });
  // Both streams into one pipe, as a terminal shows them.
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `exec "${Deno.execPath()}" run -A "${
        join(ROOT, "main.ts")
      }" serve --port 0 --data-dir "${dataDir}" 2>&1`,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...await engineEnv(dataDir) },
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  let text = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  try {
    const deadline = Date.now() + 30_000;
    while (!/"msg":"listening"/.test(text) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const lines = text.split("\n");
    assert.match(
      lines[0],
      /^dust-mcp \S+ serving region us-central1 on http:\/\/127\.0\.0\.1:(\d+)$/,
    );
    const port = /:(\d+)$/.exec(lines[0])![1];
    assert.notEqual(port, "0");
    assert.equal(
      lines[1].trim(),
      `public URL: http://localhost:${port}   MCP endpoint: http://localhost:${port}/mcp`,
    );
    const link = lines.find((l) => l.includes("/setup?token="))!.trim();
    assert.ok(link.startsWith(`http://localhost:${port}/setup?token=`), link);
    const firstJson = lines.findIndex((l) => l.startsWith("{"));
    const lastBanner = lines.findIndex((l) => l.includes("/setup?token="));
    assert.ok(firstJson > lastBanner, "every log line comes after the banner");
    assert.equal(text.split("serving region").length - 1, 1, "printed once");
    const res = await fetch(link.replace("localhost", "127.0.0.1"));
    assert.equal(res.status, 200, "the printed setup link works");
    await res.body?.cancel();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reading;
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
