import assert from "node:assert/strict";
import { runCli } from "../../src/cli.ts";
import { REGIONS, resolveConfig, SETTINGS, settingsMarkdown } from "../../src/config.ts";
import { COMMANDS } from "../../src/cli.ts";
import { captureIo } from "./capture_io.ts";

/** Run the CLI with no environment; a bad flag must stop before anything starts. */
async function refused(args: string[], env: Record<string, string> = {}) {
  const io = captureIo();
  const code = await runCli(args, io, env);
  return { code, io };
}

function assertOneLine(lines: string[], pattern: RegExp) {
  assert.equal(lines.length, 1, `expected one line, got ${JSON.stringify(lines)}`);
  assert.ok(!lines[0].includes("\n"), "the reason is a single line");
  assert.match(lines[0], pattern);
}

Deno.test("[cli] an unknown flag exits 2 with a one-line reason", async () => {
  const { code, io } = await refused(["--colour", "red"]);
  assert.equal(code, 2);
  assertOneLine(io.stderr, /^dust-mcp: unknown option --colour/);
  assert.deepEqual(io.stdout, []);
});

Deno.test("[cli] an unknown command exits 2", async () => {
  const { code, io } = await refused(["frobnicate"]);
  assert.equal(code, 2);
  assertOneLine(io.stderr, /unknown command "frobnicate"/);
});

Deno.test("[cli] a bad --region exits 2", async () => {
  const { code, io } = await refused(["--region", "asia"]);
  assert.equal(code, 2);
  assertOneLine(io.stderr, /--region: "asia" is not us or eu/);
});

Deno.test("[cli] a bad --port exits 2 (not a number, out of range)", async () => {
  for (const port of ["http", "-1", "65536", "80.5"]) {
    const { code, io } = await refused([`--port=${port}`]);
    assert.equal(code, 2, `--port ${port}`);
    assertOneLine(io.stderr, /--port: .* is not a port number/);
  }
});

Deno.test("[cli] a flag given without its value exits 2", async () => {
  const { code, io } = await refused(["--port"]);
  assert.equal(code, 2);
  assertOneLine(io.stderr, /port/);
});

Deno.test("[cli] a bad --log-level exits 2", async () => {
  const { code, io } = await refused(["--log-level", "loud"]);
  assert.equal(code, 2);
  assertOneLine(io.stderr, /--log-level: "loud" is not debug, info, warn or error/);
});

Deno.test("[cli] a bad --public-url exits 2 (not a URL, a path, another scheme)", async () => {
  const cases: [string, RegExp][] = [
    ["localhost:4310", /is not an absolute URL|must be an http or https URL/],
    ["not a url", /is not an absolute URL/],
    ["https://example.com/mcp", /must be an origin with no path/],
    ["ftp://example.com", /must be an http or https URL/],
  ];
  for (const [value, reason] of cases) {
    const { code, io } = await refused(["--public-url", value]);
    assert.equal(code, 2, `--public-url ${value}`);
    assertOneLine(io.stderr, reason);
  }
});

Deno.test("[cli] a bad environment variable exits 2 and names the variable", async () => {
  const { code, io } = await refused(["version"], { DUST_MCP_PORT: "many" });
  assert.equal(code, 2);
  assertOneLine(io.stderr, /^dust-mcp: DUST_MCP_PORT: "many" is not a port number/);
});

Deno.test("[cli] a command's flag on another command exits 2", async () => {
  const served = await refused(["--email", "a@example.com"]);
  assert.equal(served.code, 2);
  assertOneLine(served.io.stderr, /--email is not an option of serve/);
  const other = await refused(["version", "--role", "admin"]);
  assert.equal(other.code, 2);
  assertOneLine(other.io.stderr, /--role is not an option of version/);
});

Deno.test("[cli] an extra positional argument exits 2", async () => {
  const { code, io } = await refused(["version", "now"]);
  assert.equal(code, 2);
  assertOneLine(io.stderr, /unexpected argument "now"/);
});

Deno.test("[cli] a flag beats its environment variable, which beats the default", () => {
  const env = {
    DUST_MCP_PORT: "5000",
    DUST_MCP_HOST: "0.0.0.0",
    DUST_MCP_LOG_LEVEL: "warn",
  };
  const config = resolveConfig({ port: "6000" }, env);
  assert.equal(config.port, 6000, "flag beats env");
  assert.equal(config.host, "0.0.0.0", "env beats default");
  assert.equal(config.logLevel, "warn");
  const defaults = resolveConfig({}, {});
  assert.equal(defaults.host, "127.0.0.1");
  assert.equal(defaults.logLevel, "info");
  assert.equal(resolveConfig({}, { DUST_MCP_PORT: "" }).port, 4310, "empty env means unset");
});

Deno.test("[cli] us defaults to port 4310 and ./dust-mcp-data/us-central1", () => {
  const config = resolveConfig({}, {});
  assert.equal(config.region, "us");
  assert.equal(config.regionId, "us-central1");
  assert.equal(config.port, 4310);
  assert.equal(config.dataDir, "./dust-mcp-data/us-central1");
  assert.equal(config.publicUrl, "http://localhost:4310");
});

Deno.test("[cli] eu defaults to port 4320 and ./dust-mcp-data/europe-west1", () => {
  for (
    const config of [
      resolveConfig({ region: "eu" }, {}),
      resolveConfig({}, { DUST_MCP_REGION: "eu" }),
    ]
  ) {
    assert.equal(config.regionId, "europe-west1");
    assert.equal(config.port, 4320);
    assert.equal(config.dataDir, "./dust-mcp-data/europe-west1");
    assert.equal(config.publicUrl, "http://localhost:4320");
  }
  assert.notEqual(REGIONS.us.defaultPort, REGIONS.eu.defaultPort, "both regions run side by side");
});

Deno.test("[cli] the public URL is normalised to an origin and follows the port", () => {
  assert.equal(
    resolveConfig({ "public-url": "HTTPS://MCP.Example.com:443/" }, {}).publicUrl,
    "https://mcp.example.com",
  );
  assert.equal(resolveConfig({ port: "9999" }, {}).publicUrl, "http://localhost:9999");
});

Deno.test("[cli] --help lists every setting, its variable and every command", async () => {
  const io = captureIo();
  assert.equal(await runCli(["--help"], io, {}), 0);
  const help = io.stdout.join("\n");
  for (const s of SETTINGS) {
    if (s.flag) assert.ok(help.includes(`--${s.flag} `), `--${s.flag} in help`);
    assert.ok(help.includes(s.env), `${s.env} in help`);
  }
  for (const c of COMMANDS) assert.ok(help.includes(c.words.join(" ")), c.words.join(" "));
  assert.match(help, /\bserve\b/);
});

Deno.test("[cli] a leading -- (from `deno task start -- --region eu`) is a separator", async () => {
  const io = captureIo();
  assert.equal(await runCli(["--", "--region", "eu", "version"], io, {}), 0, io.stderr.join());
  assert.match(io.stdout[0], /^dust-mcp /);
  const late = await refused(["version", "--", "--region", "eu"]);
  assert.equal(late.code, 2, "only a leading -- is dropped");
});

Deno.test("[cli] <command> --help shows that command's flags with their meaning", async () => {
  for (const c of COMMANDS) {
    const io = captureIo();
    assert.equal(await runCli([...c.words, "--help"], io, {}), 0, c.words.join(" "));
    const help = io.stdout.join("\n");
    assert.match(help, new RegExp(`^Usage: dust-mcp ${c.words.join(" ")} `));
    for (const [flag, meaning] of Object.entries(c.flags)) {
      const line = help.split("\n").find((l) => l.includes(`--${flag} <`));
      assert.ok(line?.includes(meaning), `${c.words.join(" ")}: --${flag} ${meaning}`);
    }
  }
  const io = captureIo();
  assert.equal(await runCli(["serve", "--help"], io, {}), 0);
  assert.match(io.stdout.join("\n"), /--region <value>/, "serve --help is the full help");
});

const S3_URL = "s3://dust-files/team?endpoint=http://127.0.0.1:9000&force_path_style=true";
const AWS = { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI-secret" };

Deno.test("[cli] a bad --files-url exits 2 with one line naming the setting (flag or variable)", async () => {
  const cases: [string, RegExp][] = [
    ["https://dust-files.s3.amazonaws.com", /expected an s3:\/\/ URL/],
    ["s3://AB", /bucket "AB" is not a valid name/],
    ["s3://dust-files?endpoint=ftp://x", /endpoint must be an http/],
    ["s3://key:secret@dust-files", /credentials do not belong in the URL/],
    ["s3://dust-files/a/../b", /prefix segment "\.\." is refused/],
    ["s3://dust-files?colour=red", /unknown parameter "colour"/],
  ];
  for (const [value, reason] of cases) {
    const flagged = await refused(["--files-url", value], AWS);
    assert.equal(flagged.code, 2, value);
    assertOneLine(flagged.io.stderr, /^dust-mcp: --files-url: /);
    assert.match(flagged.io.stderr[0], reason);
    assert.ok(!flagged.io.stderr[0].includes("secret"), "the URL's credentials are not echoed");
    const fromEnv = await refused(["version"], { ...AWS, DUST_MCP_FILES_URL: value });
    assert.equal(fromEnv.code, 2, value);
    assertOneLine(fromEnv.io.stderr, /^dust-mcp: DUST_MCP_FILES_URL: /);
  }
});

Deno.test("[cli] --files-url without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY exits 2 naming them", async () => {
  const envs: Record<string, string>[] = [
    {},
    { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE" },
    { AWS_SECRET_ACCESS_KEY: "x" },
  ];
  for (const env of envs) {
    const { code, io } = await refused(["--files-url", S3_URL], env);
    assert.equal(code, 2);
    assertOneLine(io.stderr, /--files-url: .*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  }
});

Deno.test("[cli] S3 credentials come from the environment only, and --help never shows them", async () => {
  const config = resolveConfig({ "files-url": S3_URL }, { ...AWS, AWS_SESSION_TOKEN: "tok" });
  assert.deepEqual(config.filesUrl, {
    bucket: "dust-files",
    prefix: "team/",
    endpoint: "http://127.0.0.1:9000",
    region: "us-east-1",
    forcePathStyle: true,
  });
  assert.equal(config.awsAccessKeyId, "AKIDEXAMPLE");
  assert.equal(config.awsSecretAccessKey, "wJalrXUtnFEMI-secret");
  assert.equal(config.awsSessionToken, "tok");
  assert.equal(resolveConfig({}, {}).filesUrl, null, "unset: the data directory's files/");
  const flag = await refused(["--aws-secret-access-key", "x"]);
  assert.equal(flag.code, 2, "no flag takes a secret (it would show in ps)");
  const io = captureIo();
  assert.equal(await runCli(["--help"], io, { ...AWS, AWS_SESSION_TOKEN: "tok" }), 0);
  const help = io.stdout.join("\n");
  for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) {
    assert.match(help, new RegExp(`\\$${name} .*\\n.*default \\(none\\)`), name);
  }
  assert.ok(!help.includes("wJalrXUtnFEMI") && !help.includes("AKIDEXAMPLE"));
  for (const s of SETTINGS.filter((s) => s.secret)) {
    assert.ok(
      settingsMarkdown().includes(`| \`${s.env}\` | (none) |`),
      `${s.env}: no default shown`,
    );
  }
});
