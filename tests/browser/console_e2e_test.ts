/**
 * The console end to end, in chromium: the admin sets up the instance from the printed link
 * (and is signed in), invites a teammate, who accepts; the admin creates a restricted space
 * with the teammate in it and a personal access token, and puts a PDF in the space (the REST
 * upload: the browser upload form is the Knowledge page's); the teammate makes an MCP token
 * on the Credentials page, and an MCP client's `search` finds a sentence of the PDF — while
 * a builder outside the space finds nothing.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { Browser } from "../helpers/browser.ts";
import { makePdf } from "../helpers/documents.ts";
import { apiJson, bearer, createUserWithToken } from "../helpers/fixtures.ts";
import { connectV1, payloadOf } from "../mcp/helpers.ts";
import { issueMcpToken } from "../../src/core/mcp_tokens.ts";

const SENTENCE = "The aurora borealis budget was approved on Tuesday";

async function mcpSearch(server: Parameters<typeof connectV1>[0], token: string) {
  await using c = await connectV1(server, token);
  const r = await c.callTool({ name: "search", arguments: { query: "aurora borealis budget" } });
  return r.isError ? [] : payloadOf<{ results: { title: string }[] }>(r).results;
}

Deno.test("[e2e console] set up, invite, accept, restrict a space, upload a PDF, search it over MCP as its member only", async () => {
  await using s = await startTestServer();
  await using b = await Browser.start();
  // 1. Setup from the link the server printed; the admin is signed in after it.
  await b.goto(s.setupUrl!.replace(s.config.publicUrl, s.url));
  await b.fill("#name", "Ada Admin");
  await b.fill("#email", "ada@acme.example");
  await b.fill("#password", "a long enough password");
  await b.fill("#workspace", "Acme");
  await b.click("button:has-text('Create account and workspace')");
  const home = await b.click("a:has-text('Open your workspace')");
  const wId = new URL(home.url).pathname.split("/")[2];
  assert.equal(home.status, 200, "signed in by setup");
  // 2. Invite a teammate, who accepts.
  await b.goto(`${s.url}/w/${wId}/members`);
  await b.fill("#invite-email", "tom@acme.example");
  await b.click("button:has-text('Create invitation link')");
  const link = (await b.text("#invite-url"))!;
  const admin = await s.deps.db.get("SELECT id FROM users WHERE email = ?", "ada@acme.example") as {
    id: number;
  };
  await b.signOut();
  await b.goto(link);
  await b.fill("#name", "Tom Teammate");
  await b.fill("#password", "another long password");
  await b.click("button:has-text('Create account and join')");
  // 3. The admin creates a restricted space with Tom, and a personal access token.
  await b.signInAs(s, admin.id);
  await b.goto(`${s.url}/w/${wId}/spaces`);
  await b.fill("#space-name", "Board");
  await b.send({ op: "check", selector: "#spaces input[name=restricted]" });
  const made = await b.click("button:has-text('Create space')");
  assert.equal(made.status, 200);
  await b.click("a:has-text('Board')");
  await b.select(
    "#add-member",
    (await s.deps.db.get(
      "SELECT s_id FROM users WHERE email = 'tom@acme.example'",
    ) as { s_id: string }).s_id,
  );
  await b.click("#space-members button:has-text('Add')");
  assert.match((await b.text("#space-members"))!, /tom@acme\.example/);
  const spaceId = new URL(await b.eval<string>("location.href")).pathname.split("/")[4];
  await b.goto(`${s.url}/w/${wId}/credentials`);
  await b.fill("#pat-name", "upload");
  await b.click("#personal-tokens button:has-text('Create token')");
  const pat = (await b.text("#new-pat"))!;
  // 4. A PDF into the restricted space (REST upload with the admin's token).
  const ds = await apiJson(s, pat, `/api/v1/w/${wId}/spaces/${spaceId}/data_sources`, {
    method: "POST",
    body: { name: "Minutes" },
  });
  assert.equal(ds.status, 200, JSON.stringify(ds.body));
  const form = new FormData();
  const pdf = await makePdf([[SENTENCE, "Other business: none."]], "Board minutes");
  form.append(
    "file",
    new Blob([pdf as Uint8Array<ArrayBuffer>], { type: "application/pdf" }),
    "minutes.pdf",
  );
  const up = await fetch(
    `${s.url}/api/v1/w/${wId}/spaces/${spaceId}/data_sources/${ds.body.data_source.sId}/upload`,
    { method: "POST", headers: bearer(pat), body: form },
  );
  assert.equal(up.status, 200, await up.clone().text());
  await up.body?.cancel();
  // 5. Tom makes an MCP token in the browser; his MCP client finds the sentence.
  const tom = await s.deps.db.get("SELECT id FROM users WHERE email = ?", "tom@acme.example") as {
    id: number;
  };
  await b.signInAs(s, tom.id);
  await b.goto(`${s.url}/w/${wId}/credentials`);
  await b.click("#mcp-token button[type=submit]");
  const tomToken = (await b.text("#new-mcp"))!;
  const found = await mcpSearch(s, tomToken);
  assert.deepEqual(found.map((r) => r.title), ["Board minutes"]);
  // 6. A builder of the workspace outside the space finds nothing.
  const ws = await s.deps.db.get("SELECT * FROM workspaces WHERE s_id = ?", wId) as {
    id: number;
  };
  const outsider = await createUserWithToken(s, {
    email: "bea@acme.example",
    role: "builder",
    workspace: { id: ws.id } as never,
  });
  const beaToken =
    (await issueMcpToken(s.deps.db, { userId: outsider.user.id, workspaceId: ws.id }))
      .token;
  assert.deepEqual(await mcpSearch(s, beaToken), []);
});
