/**
 * The knowledge, agents and conversations pages in a real browser (Debian's chromium through
 * playwright-core, tests/helpers/console_chromium.ts): every page for each role (admin,
 * builder, user, non-member) shows what that role may do and refuses the rest, with an
 * axe-core check on each page served (no serious or critical violation) and no CSP violation
 * or script error; a PDF uploaded through the page's form is found by the MCP `search` tool for
 * the space's members and by no one else; and an agent's answer streams into the page (the
 * fake model holds the second half of its text until the test saw the first), then the page
 * shows the finished answer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type ConsoleMember, type ConsoleWorld, consoleWorld } from "../helpers/console_world.ts";
import { ConsoleBrowser } from "../helpers/console_browser.ts";
import { makePdf } from "../helpers/documents.ts";
import { startFakeModel } from "../helpers/fake_model.ts";
import { connectV1, payloadOf } from "../mcp/helpers.ts";

/** Every console page of this area, by name (`{w}` = the world's workspace). */
function pagesOf(w: ConsoleWorld): Record<string, string> {
  const k = `/w/${w.wId}/knowledge`;
  return {
    knowledge: k,
    "data source (Company Data)": `${k}/${w.companySpace}/${w.handbook}`,
    "data source (restricted)": `${k}/${w.secretSpace}/${w.vault}`,
    "document (restricted)": `${k}/${w.secretSpace}/${w.vault}/document?id=plans`,
    agents: `/w/${w.wId}/agents`,
    "new agent": `/w/${w.wId}/agents/new`,
    "agent (helper)": `/w/${w.wId}/agents/${w.helperAgent}`,
    "conversations (mine)": `/w/${w.wId}/conversations`,
    "conversations (shared)": `/w/${w.wId}/conversations?view=shared`,
    "conversations (pods)": `/w/${w.wId}/conversations?view=pods`,
    "conversation (shared)": `/w/${w.wId}/conversations/${w.aliceShared}`,
    "conversation (Bob's private)": `/w/${w.wId}/conversations/${w.bobPrivate}`,
  };
}

/** The status each role gets on each page (what it may do is checked on the page's text). */
const EXPECTED: Record<string, Record<string, number>> = {
  admin: { "conversation (Bob's private)": 404 },
  builder: {
    "data source (restricted)": 404,
    "document (restricted)": 404,
    "conversation (Bob's private)": 404,
  },
  user: { "new agent": 403 },
};

const SHOWS: Record<string, Record<string, { has?: string[]; lacks?: string[] }>> = {
  admin: {
    knowledge: { has: ["Secret", "Vault", "New data source name"] },
    "agent (helper)": { has: ["Save agent", "Archive @helper", "Test chat"] },
  },
  builder: {
    knowledge: { has: ["Handbook", "Crew", "New data source name"], lacks: ["Vault"] },
    "data source (Company Data)": { has: ["Upload a document"] },
    "agent (helper)": { has: ["Save agent"] },
  },
  user: {
    knowledge: { has: ["Handbook", "Vault"], lacks: ["New data source name"] },
    "data source (Company Data)": { has: ["not add documents"], lacks: ["Upload a document"] },
    "data source (restricted)": { has: ["Upload a document", "Plans"] },
    "document (restricted)": { has: ["bluefinch", "Delete this document"] },
    agents: { has: ["@helper"], lacks: ["New agent", "alices-own"] },
    "agent (helper)": { has: ["Test chat"], lacks: ["Save agent", "Archive"] },
    "conversation (Bob's private)": { has: ["a private thought", "Post a message"] },
  },
};

async function checkRole(
  b: ConsoleBrowser,
  s: TestServer,
  w: ConsoleWorld,
  role: string,
  m: ConsoleMember,
): Promise<number> {
  const p = await b.open(s, m);
  let checked = 0;
  for (const [name, path] of Object.entries(pagesOf(w))) {
    const want = role === "non-member" ? 404 : EXPECTED[role]?.[name] ?? 200;
    const r = await b.goto(p, `${s.url}${path}`);
    assert.equal(r.status, want, `${role} ${name}`);
    const state = await b.state(p);
    assert.deepEqual(state.problems, [], `${role} ${name}: CSP or script problems`);
    const shows = SHOWS[role]?.[name];
    for (const t of shows?.has ?? []) {
      assert.ok(state.text.includes(t), `${role} ${name} shows ${t}`);
    }
    for (const t of shows?.lacks ?? []) {
      assert.ok(!state.text.includes(t), `${role} ${name} does not show ${t}`);
    }
    if (want === 200) {
      const axe = await b.axe(p);
      assert.deepEqual(
        axe.violations,
        [],
        `${role} ${name}: axe ${JSON.stringify(axe.violations)}`,
      );
      checked++;
    }
  }
  return checked;
}

Deno.test("[browser] console pages per role in chromium, each axe-checked", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  await using b = await ConsoleBrowser.start();
  let checked = 0;
  checked += await checkRole(b, s, w, "admin", w.alice);
  checked += await checkRole(b, s, w, "builder", w.bea);
  checked += await checkRole(b, s, w, "user", w.bob);
  checked += await checkRole(b, s, w, "non-member", w.carol);
  assert.ok(checked >= 30, `only ${checked} pages were axe-checked`);
  // Signed out: every page sends the visitor to sign-in.
  const anon = await b.open(s, null);
  for (const path of Object.values(pagesOf(w))) {
    await b.goto(anon, `${s.url}${path}`);
    assert.match((await b.state(anon)).url, /\/login\?next=/);
  }
});

async function searchTitles(s: TestServer, m: ConsoleMember, query: string): Promise<string[]> {
  await using c = await connectV1(s, m.mcpToken);
  const r = await c.callTool({ name: "search", arguments: { query } });
  if (r.isError) return [];
  return payloadOf<{ results: { title: string }[] }>(r).results.map((x) => x.title);
}

Deno.test("[browser] a PDF uploaded in chromium is found by MCP search for the space's members only", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-upload-" });
  try {
    const pdf = join(dir, "Harbour Survey.pdf");
    await Deno.writeFile(
      pdf,
      await makePdf(
        [["The tide gauge at pier seven reads marigold.", "Second line."]],
        "Harbour survey",
      ),
    );
    await using b = await ConsoleBrowser.start();
    const p = await b.open(s, w.bob);
    await b.goto(p, `${s.url}/w/${w.wId}/knowledge/${w.secretSpace}/${w.vault}`);
    await b.send({ op: "setFile", page: p, selector: "#file", path: pdf });
    const r = await b.send<{ url: string; status: number }>({
      op: "submit",
      page: p,
      selector: "form[enctype] button[type=submit]",
    });
    assert.equal(r.status, 200);
    assert.match(r.url, /\?uploaded=harbour-survey\.pdf$/);
    const state = await b.state(p);
    assert.ok(state.text.includes("Uploaded and indexed"));
    assert.ok(state.text.includes("Harbour survey") && state.text.includes("application/pdf"));
    assert.deepEqual((await b.axe(p)).violations, []);
    assert.deepEqual(await searchTitles(s, w.bob, "tide gauge marigold"), ["Harbour survey"]);
    assert.deepEqual(await searchTitles(s, w.alice, "tide gauge marigold"), ["Harbour survey"]);
    assert.deepEqual(await searchTitles(s, w.bea, "tide gauge marigold"), []);
    assert.deepEqual(await searchTitles(s, w.carol, "tide gauge marigold"), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[browser] an agent's answer streams into the conversation page, then the page shows it finished", async () => {
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  await using model = await startFakeModel([
    { content: "First half of the answer. Second half arrives later.", holdSecondHalf: hold },
  ]);
  await using s = await startTestServer({ flags: model.flags });
  const w = await consoleWorld(s);
  await using b = await ConsoleBrowser.start();
  const p = await b.open(s, w.bob);
  try {
    await b.goto(p, `${s.url}/w/${w.wId}/conversations/${w.bobPrivate}`);
    await b.send({ op: "select", page: p, selector: "#agent", value: w.helperAgent });
    await b.send({ op: "fill", page: p, selector: "#content", value: "Tell me in two halves" });
    await b.send({ op: "submit", page: p, selector: "form[action$='/messages'] button" });
    // The first half, streamed while the message is still being written.
    await b.send({
      op: "waitText",
      page: p,
      selector: "[data-stream-text]",
      text: "First half of the ans",
    });
    const row = await s.deps.db.get<{ status: string }>(
      "SELECT status FROM agent_messages ORDER BY message_id DESC LIMIT 1",
    );
    assert.equal(row?.status, "created", "shown before the answer was finished");
    assert.deepEqual((await b.axe(p)).violations, []);
  } finally {
    release();
  }
  await b.send({ op: "waitGone", page: p, selector: "[data-stream-url]" });
  const done = await b.state(p);
  assert.ok(done.text.includes("First half of the answer. Second half arrives later."));
  assert.deepEqual(done.problems, [], "no CSP violation, no script error");
  // Without JavaScript the page still reads (the stored answer, no stream).
  const plain = await b.open(s, w.bob, { javaScript: false });
  await b.goto(plain, `${s.url}/w/${w.wId}/conversations/${w.bobPrivate}`);
  assert.ok((await b.state(plain)).text.includes("Second half arrives later."));
});
