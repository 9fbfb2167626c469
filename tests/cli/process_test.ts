/**
 * The real program as a child process: `deno run main.ts ...`, as the README starts it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openDb } from "../../src/db/sqlite.ts";
import { VERSION } from "../../src/version.ts";
import { engineEnv, testEngine } from "../helpers/server.ts";
import { startS3Server } from "../helpers/s3_server.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
];

function program(
  args: string[],
  stdin: "null" | "piped" = "null",
  env: Record<string, string> = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, join(ROOT, "main.ts"), ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    clearEnv: false,
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Collects a child's stderr and lets a test wait (bounded) for a line matching a pattern. */
class Output {
  text = "";
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this.text += chunk;
    })();
  }
  async waitFor(pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const m = this.text.match(pattern);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no ${pattern} within ${ms} ms; output so far:\n${this.text}`);
  }
}

/** Start `serve` on a free port, wait for the banner, return the child and its URL. */
async function serve(dataDir: string) {
  const child = program(
    ["serve", "--port", "0", "--data-dir", dataDir, "--log-level", "warn"],
    "null",
    await engineEnv(dataDir),
  );
  const stderr = new Output(child.stderr);
  const stdout = new Output(child.stdout);
  const [, url] = await stderr.waitFor(/serving region us-central1 on (http:\/\/\S+)/);
  return { child, url, stderr, stdout };
}

async function stopWith(
  running: Awaited<ReturnType<typeof serve>>,
  signal: Deno.Signal,
): Promise<number> {
  running.child.kill(signal);
  const status = await running.child.status;
  await Promise.all([running.stderr.done, running.stdout.done]);
  return status.code;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("[cli] the real program prints its version and exits 0", async () => {
  const child = program(["version"]);
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(new TextDecoder().decode(stdout).trim(), `dust-mcp ${VERSION}`);
});

Deno.test("[cli] the real program exits 2 on a bad flag with one line on stderr", async () => {
  const { code, stdout, stderr } = await program(["--region", "mars"]).output();
  assert.equal(code, 2);
  assert.equal(new TextDecoder().decode(stdout), "");
  assert.equal(new TextDecoder().decode(stderr), 'dust-mcp: --region: "mars" is not us or eu\n');
});

Deno.test("[cli] users create reads the password from a real stdin pipe", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-proc-" });
  try {
    const child = program(
      ["users", "create", "--email", "pipe@example.com", "--name", "Pipe", "--data-dir", dataDir],
      "piped",
      await engineEnv(dataDir),
    );
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("piped password\n"));
    await writer.close();
    const { code, stdout } = await child.output();
    assert.equal(code, 0);
    assert.match(new TextDecoder().decode(stdout).trim(), /^[A-Za-z0-9]{10}$/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[cli] serve prints the setup link, stops on SIGTERM and SIGINT with exit 0, and restarts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-proc-" });
  try {
    const first = await serve(dataDir);
    await first.stderr.waitFor(/\/setup\?token=\S{32,}/);
    const health = await fetch(`${first.url}/healthz`);
    assert.equal((await health.json()).status, "ok");
    assert.equal(await stopWith(first, "SIGTERM"), 0, first.stderr.text);
    const sqlite = testEngine() === "sqlite";
    if (sqlite) {
      assert.equal(
        await exists(join(dataDir, "dust-mcp.db-wal")),
        false,
        "the database was closed (its WAL checkpointed and removed)",
      );
    }

    const second = await serve(dataDir);
    const again = await fetch(`${second.url}/healthz`);
    assert.equal(again.status, 200);
    await again.body?.cancel();
    assert.equal(await stopWith(second, "SIGINT"), 0, second.stderr.text);
    if (sqlite) {
      // The SQLite file closed cleanly (PostgreSQL keeps its own files).
      assert.equal(await exists(join(dataDir, "dust-mcp.db-wal")), false);
      const db = openDb(join(dataDir, "dust-mcp.db"));
      try {
        const [row] = await db.all("PRAGMA integrity_check") as Record<string, string>[];
        assert.equal(Object.values(row)[0], "ok");
      } finally {
        await db.close();
      }
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[cli] a second serve on a port in use exits 1 with one line naming the address", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-proc-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((busy.addr as Deno.NetAddr).port);
    const child = program(["--port", port, "--data-dir", dataDir]);
    const { code, stderr } = await child.output();
    assert.equal(code, 1);
    const text = new TextDecoder().decode(stderr);
    assert.equal(text.trimEnd().split("\n").length, 1, `one line, no stack trace: ${text}`);
    assert.match(
      text,
      new RegExp(
        `^dust-mcp: cannot listen on 127\\.0\\.0\\.1:${port}: .*address already in use`,
        "i",
      ),
    );
  } finally {
    busy.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[cli] the README's start command passes flags through deno task", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "start", "--", "--region", "eu", "version"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(new TextDecoder().decode(stdout).trim(), `dust-mcp ${VERSION}`);
});

Deno.test("[cli] serve exits 1 with one line naming --files-url when the store is unreachable, the bucket missing or the key wrong", async () => {
  await using s3 = await startS3Server();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const keys = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      `s3://dust-files?endpoint=http://127.0.0.1:${closedPort}&force_path_style=true`,
      keys,
      /NetworkError/,
    ],
    [`s3://no-such-bucket?endpoint=${s3.endpoint}&force_path_style=true`, keys, /NoSuchBucket/],
    [s3.url, { ...keys, AWS_SECRET_ACCESS_KEY: "not-the-secret" }, /SignatureDoesNotMatch/],
  ];
  for (const [url, env, reason] of cases) {
    const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-proc-" });
    try {
      const child = program(
        ["--port", "0", "--data-dir", dataDir, "--files-url", url],
        "null",
        env,
      );
      const { code, stderr } = await child.output();
      const text = new TextDecoder().decode(stderr);
      assert.equal(code, 1, text);
      assert.equal(text.trimEnd().split("\n").length, 1, `one line, no stack trace: ${text}`);
      assert.match(text, /^dust-mcp: --files-url: bucket "[a-z-]+" at http:\/\/127\.0\.0\.1:\d+ /);
      assert.match(text, reason);
      assert.ok(!text.includes("not-the-secret"), "the secret is never printed");
      assert.equal(await exists(join(dataDir, "dust-mcp.db")), false, "nothing was started");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});
