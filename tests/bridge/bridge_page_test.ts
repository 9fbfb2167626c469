/**
 * The Integrations page explains `dust-mcp bridge` with a command to copy that names this
 * server's public URL and the workspace, and links to where personal tokens are made.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";

Deno.test("[bridge] the Integrations page shows the bridge command for this server and workspace", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const b = new BrowserHttp(server.url);
  await b.signIn(alice.email, alice.password);
  const page = await b.get(`/w/${alice.workspace.sId}/integrations`);
  assert.equal(page.status, 200);
  const pre = /<pre id="bridge-command">([^<]+)<\/pre>/.exec(page.text);
  assert.ok(pre, "a copyable bridge command");
  const command = pre[1].replaceAll("\\\n", " ").replace(/\s+/g, " ");
  assert.equal(
    command,
    `dust-mcp bridge --url ${server.config.publicUrl} --workspace ${alice.workspace.sId} ` +
      "--token - -- npx -y @modelcontextprotocol/server-filesystem ~/Documents",
  );
  assert.ok(page.text.includes(`href="/w/${alice.workspace.sId}/credentials"`));
  assert.match(page.text, /Read-only tools run without asking/);
});
