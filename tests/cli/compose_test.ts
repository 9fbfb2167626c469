/**
 * compose.yaml cannot be started here (no Docker engine), so this test reads it as Compose
 * would: YAML with merge keys, `${VAR:-default}` / `${VAR:?message}` interpolation and `$$`
 * escapes, then checks that the pieces fit — every instance's environment resolves through
 * config.ts to PostgreSQL and the bucket the setup step creates, the health checks call a real
 * command of the binary the Dockerfile installs, and the proxy balances over every instance.
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import { resolveConfig, SETTINGS } from "../../src/config.ts";
import { COMMANDS } from "../../src/cli.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

/** Compose's interpolation: `${X}`, `${X:-default}`, `${X:?message}` (missing: throws), `$$`. */
function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\{(\w+)(?:(:-|:\?)([^}]*))?\}/g, (m, name, op, arg) => {
    if (m === "$$") return "$";
    const value = vars[name];
    if (value) return value;
    if (op === ":-") return arg;
    if (op === ":?") throw new Error(`${name} is required: ${arg}`);
    return "";
  });
}

// deno-lint-ignore no-explicit-any
type Service = Record<string, any>;

async function composeWith(vars: Record<string, string>): Promise<Record<string, Service>> {
  const doc = YAML.parseDocument(interpolate(await read("compose.yaml"), vars), { merge: true });
  assert.deepEqual([...doc.errors, ...doc.warnings].map(String), []);
  return (doc.toJS() as { services: Record<string, Service> }).services;
}

const SECRETS = {
  POSTGRES_PASSWORD: "pg-secret",
  MINIO_ROOT_PASSWORD: "minio-root-secret",
  DUST_MCP_S3_SECRET: "s3-secret",
};

Deno.test("[docs] compose.yaml needs its secrets, and nothing else, to be set", async () => {
  for (const name of Object.keys(SECRETS)) {
    const missing = { ...SECRETS, [name]: "" };
    await assert.rejects(composeWith(missing), new RegExp(`${name} is required`));
  }
  await composeWith(SECRETS);
});

Deno.test("[docs] compose.yaml: PostgreSQL, MinIO and its bucket, two instances, a proxy", async () => {
  const services = await composeWith(SECRETS);
  const instances = Object.keys(services).filter((n) => services[n].build !== undefined);
  assert.deepEqual(instances, ["dust-mcp-1", "dust-mcp-2"], "two instances built from the repo");
  const setup = services.bucket.command.join(" ") as string;

  for (const name of instances) {
    const s = services[name];
    assert.equal(s.build, ".", "built from the Dockerfile at the root");
    const env = s.environment as Record<string, string>;
    for (const key of Object.keys(env).filter((k) => k.startsWith("DUST_MCP_"))) {
      assert.ok(SETTINGS.some((row) => row.env === key), `${key} is a setting of config.ts`);
    }
    const config = resolveConfig({}, env);
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.publicUrl, "http://localhost:8080");
    assert.equal(config.clientIpHeader, "x-forwarded-for");
    const pg = new URL(config.databaseUrl!);
    assert.equal(pg.host, "postgres:5432");
    assert.equal(pg.username, services.postgres.environment.POSTGRES_USER);
    assert.equal(pg.password, SECRETS.POSTGRES_PASSWORD);
    assert.equal(pg.pathname, `/${services.postgres.environment.POSTGRES_DB}`);
    const files = config.filesUrl!;
    assert.equal(files.endpoint, "http://minio:9000");
    assert.ok(files.forcePathStyle);
    assert.ok(setup.includes(`mc mb --ignore-existing local/${files.bucket};`), setup);
    assert.ok(setup.includes(`mc version enable local/${files.bucket};`), "versioned bucket");
    // The key dust-mcp uses is the one the setup step creates (not MinIO's root key).
    assert.ok(setup.includes(`mc admin user add local ${config.awsAccessKeyId} `), setup);
    assert.equal(config.awsSecretAccessKey, SECRETS.DUST_MCP_S3_SECRET);
    assert.equal(services.bucket.environment.DUST_MCP_S3_SECRET, SECRETS.DUST_MCP_S3_SECRET);

    assert.deepEqual(s.depends_on, {
      postgres: { condition: "service_healthy" },
      bucket: { condition: "service_completed_successfully" },
    });
    const [kind, binary, command] = s.healthcheck.test as string[];
    assert.equal(kind, "CMD", "no shell in the image: an exec-form check");
    assert.equal(binary, await installedBinary());
    assert.ok(COMMANDS.some((c) => c.words.join(" ") === command), `${command} is a command`);
  }
  assert.deepEqual(services.postgres.healthcheck.test.slice(0, 2), ["CMD", "pg_isready"]);
  assert.deepEqual(services.minio.healthcheck.test, ["CMD", "mc", "ready", "local"]);
  assert.deepEqual(services.bucket.depends_on, { minio: { condition: "service_healthy" } });
});

Deno.test("[docs] compose.yaml: the proxy balances over every instance and checks /healthz", async () => {
  const text = interpolate(await read("compose.yaml"), SECRETS);
  const doc = YAML.parse(text, { merge: true });
  const services = doc.services as Record<string, Service>;
  const port = resolveConfig({}, services["dust-mcp-1"].environment).port;
  const caddyfile = doc.configs.caddyfile.content as string;
  const upstreams = /reverse_proxy ([^{]+)\{/.exec(caddyfile)![1].trim().split(/\s+/);
  const instances = Object.keys(services).filter((n) => services[n].build !== undefined);
  assert.deepEqual(upstreams, instances.map((n) => `${n}:${port}`));
  assert.match(caddyfile, /^\s*health_uri \/healthz$/m);
  assert.match(caddyfile, /^\s*flush_interval -1$/m, "event streams are not buffered");
  assert.deepEqual(services.proxy.configs, [{
    source: "caddyfile",
    target: "/etc/caddy/Caddyfile",
  }]);
  const publicPort = new URL(services["dust-mcp-1"].environment.DUST_MCP_PUBLIC_URL).port;
  assert.ok(services.proxy.ports.includes(`${publicPort}:80`), "the public URL is the proxy's");
});

Deno.test("[docs] the Dockerfile's HEALTHCHECK runs the healthcheck command of its binary", async () => {
  const text = (await read("Dockerfile")).replaceAll("\\\n", " ");
  const line = text.split("\n").find((l) => l.startsWith("HEALTHCHECK "))!;
  assert.ok(line, "a HEALTHCHECK line");
  const argv = JSON.parse(line.slice(line.indexOf(" CMD ") + 5).trim()) as string[];
  assert.deepEqual(argv, [await installedBinary(), "healthcheck"]);
  assert.ok(COMMANDS.some((c) => c.words.join(" ") === "healthcheck"));
});

/** The binary's path in the image (the Dockerfile's entrypoint). */
async function installedBinary(): Promise<string> {
  const line = (await read("Dockerfile")).split("\n").find((l) => l.startsWith("ENTRYPOINT "))!;
  return (JSON.parse(line.slice("ENTRYPOINT ".length)) as string[])[0];
}
