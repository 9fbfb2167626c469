/**
 * SSRF through Client ID Metadata Documents, end to end. tests/oauth/cimd_test.ts checks the
 * address classifier and the guarded fetch function; here every unauthenticated entry point
 * that resolves a client_id (`GET /authorize`, `POST /token`, `POST /revoke`) is driven with
 * client_id URLs aimed at this machine in every spelling (loopback, private, link-local and
 * metadata addresses, IPv6 and IPv4-mapped forms, decimal / hex / octal / short IPv4, the
 * name `localhost`), against the real resolver and the real fetch, while a TCP listener on
 * the target port counts connections: there must be none. With the name-resolution hook, names
 * that resolve (even partly) to internal addresses and a public document that redirects
 * inward are refused before any inward connection.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { pkcePair } from "../helpers/oauth_client.ts";
import { authorizeUrl, postForm } from "../helpers/oauth_flow.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { cimdDoc, PUBLIC_HOST, startCimdFixture } from "../helpers/cimd_fixture.ts";

/** A TCP listener on 127.0.0.1 that counts (and drops) every connection. */
function startTrap() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting.catch(() => {});
    },
  };
}

function inwardIds(port: number): string[] {
  const p = `:${port}`;
  return [
    `https://127.0.0.1${p}/client.json`,
    `https://localhost${p}/client.json`,
    `https://localhost.${p}/client.json`,
    `https://[::1]${p}/client.json`,
    `https://[::ffff:127.0.0.1]${p}/client.json`,
    `https://[::ffff:7f00:1]${p}/client.json`,
    `https://[0:0:0:0:0:ffff:7f00:1]${p}/client.json`,
    `https://2130706433${p}/client.json`,
    `https://0x7f000001${p}/client.json`,
    `https://0177.0.0.1${p}/client.json`,
    `https://127.1${p}/client.json`,
    `https://0.0.0.0${p}/client.json`,
    `https://[::]${p}/client.json`,
    // With a port the URL is refused at once (https default port only); without one the
    // address check refuses it, before any connection.
    "https://127.0.0.1/client.json",
    "https://[::1]/client.json",
    "https://[::ffff:127.0.0.1]/client.json",
    "https://169.254.169.254/latest/meta-data/client.json",
    "https://[fd00:ec2::254]/latest/client.json",
    "https://10.0.0.1/client.json",
    "https://192.168.1.1/client.json",
    "https://172.16.0.1/client.json",
    "https://100.64.0.1/client.json",
    "https://[fd00::1]/client.json",
    "https://[fe80::1]/client.json",
    "https://[64:ff9b::7f00:1]/client.json",
  ];
}

/** Drive each entry point that resolves a client_id; each must refuse. */
async function assertRefusedEverywhere(s: TestServer, clientId: string): Promise<void> {
  const browser = new BrowserHttp(s.url);
  const page = await browser.get(
    authorizeUrl(s.url, { clientId, challenge: pkcePair().challenge }),
  );
  assert.equal(page.status, 400, `authorize ${clientId}: ${page.status}`);
  assert.equal(page.location, null, `authorize ${clientId} redirected`);
  const token = await postForm(`${s.url}/token`, {
    grant_type: "authorization_code",
    code: "x",
    code_verifier: "v".repeat(43),
    redirect_uri: "http://127.0.0.1:53682/callback",
    client_id: clientId,
  });
  assert.equal(token.status, 401, `token ${clientId}: ${JSON.stringify(token.body)}`);
  assert.equal(token.body.error, "invalid_client");
  const revoke = await postForm(`${s.url}/revoke`, { token: "x", client_id: clientId });
  assert.ok(revoke.status === 401 || revoke.status === 400, `revoke ${clientId}: ${revoke.status}`);
}

Deno.test("[security] CIMD: client_ids aimed at this machine or private networks never open a connection", async () => {
  await using trap = startTrap();
  await using s = await startTestServer();
  for (const clientId of inwardIds(trap.port)) await assertRefusedEverywhere(s, clientId);
  assert.equal(trap.connections, 0, "the server connected to the loopback listener");
  const logs = s.logs.join("\n");
  assert.ok(!logs.includes('"level":"error"'), "no unhandled error");
});

Deno.test("[security] CIMD: names resolving inward (wholly or partly) and inward redirects are refused before connecting", async () => {
  await using trap = startTrap();
  await using fixture = startCimdFixture();
  const names: Record<string, string[]> = {
    "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
    "v6.example.com": ["2606:4700::1111", "::1"],
    "mapped.example.com": ["::ffff:169.254.169.254"],
    "internal.example.com": ["10.1.2.3"],
  };
  let fetches = 0;
  const hooks = {
    resolveHost: (host: string) =>
      host === PUBLIC_HOST ? fixture.hooks.resolveHost!(host) : Promise.resolve(names[host] ?? []),
    fetch: (url: string, init: RequestInit) => {
      fetches++;
      return fixture.hooks.fetch!(url, init);
    },
  };
  await using s = await startTestServer({ cimdFetch: hooks });
  for (const host of Object.keys(names)) {
    await assertRefusedEverywhere(s, `https://${host}/client.json`);
  }
  assert.equal(fetches, 0, "no fetch for names with an inward address");
  fixture.routes.set("/redirect.json", () =>
    new Response(null, {
      status: 302,
      headers: { location: `http://127.0.0.1:${trap.port}/client.json` },
    }));
  fixture.routes.set(
    "/huge.json",
    () =>
      new Response(JSON.stringify({ ...cimdDoc("/huge.json"), pad: "x".repeat(64 * 1024) }), {
        headers: { "content-type": "application/json" },
      }),
  );
  fixture.routes.set(
    "/page.json",
    () => new Response("<html>not a document</html>", { headers: { "content-type": "text/html" } }),
  );
  for (const path of ["/redirect.json", "/huge.json", "/page.json"]) {
    await assertRefusedEverywhere(s, `https://${PUBLIC_HOST}${path}`);
  }
  assert.equal(trap.connections, 0, "the redirect was not followed inward");
});
