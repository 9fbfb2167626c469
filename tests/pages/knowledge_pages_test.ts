/**
 * The knowledge pages per role, over HTTP with a browser's cookies and form posts: what each
 * member sees (spaces, data sources, documents), the create / upload / delete forms shown only
 * where the core lets them act, refusals that change nothing, and a document uploaded from
 * the page found by the MCP `search` tool for the space's members only.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { type ConsoleMember, consoleWorld, csrfOf, textOf } from "../helpers/console_world.ts";
import { connectV1, payloadOf } from "../mcp/helpers.ts";
import type { TestServer } from "../helpers/server.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { putDocument } from "../helpers/knowledge.ts";

const md = "# Zeppelin field guide\n\nThe hangar door code is quartz-lantern-42.\n";

/** A multipart upload as the page's form sends it. */
async function upload(
  m: ConsoleMember,
  path: string,
  fields: Record<string, string>,
  file: { name: string; type: string; bytes: Uint8Array<ArrayBuffer> | string },
) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set("file", new File([file.bytes], file.name, { type: file.type }));
  return await m.browser.request(path, {
    method: "POST",
    headers: { origin: m.browser.origin },
    body: form,
  });
}

async function searchTitles(s: TestServer, m: ConsoleMember, query: string) {
  await using c = await connectV1(s, m.mcpToken);
  const r = await c.callTool({ name: "search", arguments: { query } });
  if (r.isError) return [];
  return payloadOf<{ results: { title: string }[] }>(r).results.map((x) => x.title);
}

Deno.test("[pages] knowledge: each role sees the spaces it reads and the forms it may use", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  const k = `/w/${w.wId}/knowledge`;

  const admin = await w.alice.browser.get(k);
  assert.equal(admin.status, 200);
  const adminText = textOf(admin.text);
  for (const seen of ["Company Data", "Handbook", "Secret", "Vault"]) {
    assert.ok(adminText.includes(seen), `admin sees ${seen}`);
  }
  assert.ok(
    admin.text.includes(`${k}/${w.secretSpace}/data_sources`),
    "admin may create in Secret",
  );

  const builder = textOf((await w.bea.browser.get(k)).text);
  assert.ok(builder.includes("Handbook") && builder.includes("Crew"));
  assert.ok(
    !builder.includes("Vault") && !builder.includes("Secret"),
    "builder: no restricted space",
  );

  const user = await w.bob.browser.get(k);
  const userText = textOf(user.text);
  assert.ok(
    userText.includes("Handbook") && userText.includes("Vault") && userText.includes("Crew"),
  );
  assert.ok(!user.text.includes('/data_sources"'), "a user creates no data source");
  assert.ok(!user.text.includes("New data source name"));

  // Company Data is read-only to a user; their restricted space is writable.
  const handbook = await w.bob.browser.get(`${k}/${w.companySpace}/${w.handbook}`);
  assert.equal(handbook.status, 200);
  assert.ok(textOf(handbook.text).includes("Welcome"));
  assert.ok(!handbook.text.includes('enctype="multipart/form-data"'));
  const vault = await w.bob.browser.get(`${k}/${w.secretSpace}/${w.vault}`);
  assert.ok(vault.text.includes('enctype="multipart/form-data"'));
  assert.ok(textOf(vault.text).includes("Plans"));

  // A builder outside the restricted space, and a non-member: not found.
  assert.equal((await w.bea.browser.get(`${k}/${w.secretSpace}/${w.vault}`)).status, 404);
  assert.equal(
    (await w.bea.browser.get(`${k}/${w.secretSpace}/${w.vault}/document?id=plans`)).status,
    404,
  );
  assert.equal((await w.carol.browser.get(k)).status, 404);
  assert.equal((await w.carol.browser.get(`${k}/${w.companySpace}/${w.handbook}`)).status, 404);
  // Signed out: to sign-in.
  const anon = await new BrowserHttp(s.url).get(k);
  assert.equal(anon.status, 303);
  assert.match(anon.location ?? "", /^\/login\?next=/);

  // A document page shows its text.
  const doc = await w.bob.browser.get(`${k}/${w.secretSpace}/${w.vault}/document?id=plans`);
  assert.equal(doc.status, 200);
  assert.ok(textOf(doc.text).includes("The merger codename is bluefinch."));
  assert.ok(doc.text.includes("Delete this document"));
  const readOnly = await w.bob.browser.get(
    `${k}/${w.companySpace}/${w.handbook}/document?id=welcome`,
  );
  assert.ok(!readOnly.text.includes("Delete this document"));
});

Deno.test("[pages] knowledge: a builder creates a data source; a user's attempt changes nothing", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  const path = `/w/${w.wId}/knowledge/${w.companySpace}/data_sources`;
  const csrfBea = await csrfOf(w.bea, w.wId);
  const made = await w.bea.browser.post(path, { csrf: csrfBea, name: "Runbooks", description: "" });
  assert.equal(made.status, 303);
  assert.match(made.location!, new RegExp(`^/w/${w.wId}/knowledge/${w.companySpace}/dts_`));
  const dup = await w.bea.browser.post(path, { csrf: csrfBea, name: "Runbooks" });
  assert.equal(dup.status, 400);
  assert.ok(textOf(dup.text).includes("already exists"));

  const before = (await s.deps.db.get("SELECT count(*) AS n FROM data_sources")) as { n: number };
  const refused = await w.bob.browser.post(path, {
    csrf: await csrfOf(w.bob, w.wId),
    name: "Mine",
  });
  assert.equal(refused.status, 403);
  const after = (await s.deps.db.get("SELECT count(*) AS n FROM data_sources")) as { n: number };
  assert.equal(Number(after.n), Number(before.n));
});

Deno.test("[pages] knowledge: an upload from the page is indexed and found by MCP search for the space's members only", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  const ds = `/w/${w.wId}/knowledge/${w.secretSpace}/${w.vault}`;
  const csrf = await csrfOf(w.bob, w.wId);

  // Refused first: a builder who is not in the space, and a wrong CSRF token.
  const outsider = await upload(w.bea, `${ds}/upload`, { csrf: await csrfOf(w.bea, w.wId) }, {
    name: "guide.md",
    type: "text/markdown",
    bytes: md,
  });
  assert.equal(outsider.status, 404);
  const forged = await upload(w.bob, `${ds}/upload`, { csrf: "A".repeat(43) }, {
    name: "guide.md",
    type: "text/markdown",
    bytes: md,
  });
  assert.equal(forged.status, 403);
  assert.deepEqual(await searchTitles(s, w.bob, "quartz lantern"), []);

  const unsupported = await upload(w.bob, `${ds}/upload`, { csrf }, {
    name: "tool.exe",
    type: "application/octet-stream",
    bytes: new Uint8Array([0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0]),
  });
  assert.equal(unsupported.status, 400);
  assert.ok(textOf(unsupported.text).includes("Upload refused"));

  const ok = await upload(w.bob, `${ds}/upload`, { csrf, title: "" }, {
    name: "Zeppelin Guide.md",
    type: "text/markdown",
    bytes: md,
  });
  assert.equal(ok.status, 303, ok.text.slice(0, 300));
  assert.equal(ok.location, `${ds}?uploaded=zeppelin-guide.md`);
  const list = await w.bob.browser.get(ok.location!);
  const listed = textOf(list.text);
  assert.ok(listed.includes("Uploaded and indexed"));
  assert.ok(listed.includes("Zeppelin field guide"), "the document's own heading is its title");
  assert.ok(listed.includes("text/markdown"));

  // Found by the members of the space (MCP search), by no one else.
  assert.deepEqual(await searchTitles(s, w.bob, "quartz lantern"), ["Zeppelin field guide"]);
  assert.deepEqual(await searchTitles(s, w.alice, "quartz lantern"), ["Zeppelin field guide"]);
  assert.deepEqual(await searchTitles(s, w.bea, "quartz lantern"), []);
  assert.deepEqual(await searchTitles(s, w.carol, "quartz lantern"), []);

  // Delete: refused for the outsider, done by the member.
  const del = `${ds}/document/delete`;
  const notHers = await w.bea.browser.post(del, {
    csrf: await csrfOf(w.bea, w.wId),
    id: "zeppelin-guide.md",
  });
  assert.equal(notHers.status, 404);
  const gone = await w.bob.browser.post(del, { csrf, id: "zeppelin-guide.md" });
  assert.equal(gone.status, 303);
  assert.deepEqual(await searchTitles(s, w.bob, "quartz lantern"), []);
  const after = await w.bob.browser.get(`${ds}/document?id=zeppelin-guide.md`);
  assert.equal(after.status, 404);
});

Deno.test("[pages] knowledge: the document list pages 50 at a time, newest first", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  for (let i = 0; i < 55; i++) {
    await putDocument(
      s,
      w.alice.actor,
      { spaceId: w.companySpace, dataSourceId: w.handbook },
      `doc-${i}`,
      `text ${i}`,
      { title: `Doc ${i}`, timestamp: 1_000_000 + i },
    );
  }
  const ds = `/w/${w.wId}/knowledge/${w.companySpace}/${w.handbook}`;
  const first = await w.bob.browser.get(ds);
  const t1 = textOf(first.text);
  assert.ok(t1.includes("56 documents"));
  assert.ok(t1.includes("Welcome") && t1.includes("Doc 54") && t1.includes("Doc 6 "));
  assert.ok(!t1.includes("Doc 5 ") && !t1.includes("Doc 0 "));
  const next = /href="([^"]*cursor=[^"]+)"/.exec(first.text)?.[1]?.replace(/&amp;/g, "&");
  assert.ok(next, "a link to older documents");
  const second = textOf((await w.bob.browser.get(next)).text);
  assert.ok(second.includes("Doc 0 ") && second.includes("Doc 5 ") && !second.includes("Doc 6 "));
  assert.ok(!second.includes("Welcome") && !second.includes("Doc 54"));
});

Deno.test("[pages] knowledge, agents and conversations use the console's layout: the signed-in header, the side navigation, the page nonce CSP", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  for (const path of ["knowledge", "agents", "agents/new", "conversations"]) {
    const r = await w.alice.browser.get(`/w/${w.wId}/${path}`);
    assert.equal(r.status, 200, path);
    assert.ok(r.text.includes('aria-label="Console"'), `${path}: the side navigation`);
    assert.ok(r.text.includes("Sign out") && !r.text.includes(">Sign in<"), `${path}: signed in`);
    assert.ok(r.text.includes(`href="/w/${w.wId}/members"`), `${path}: the admin's links`);
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'nonce-[^']+'/, `${path}: nonce CSP`);
    assert.ok(!csp.includes("unsafe-inline"), `${path}: no unsafe-inline`);
    assert.ok(!/ style="/.test(r.text), `${path}: no inline style attribute`);
  }
});
