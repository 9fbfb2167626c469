/**
 * The console's permission matrix, server-rendered (no browser: the fast half of the role
 * tests; tests/browser/console_browser_test.ts is the real-browser half). For every page and
 * each viewer — admin, builder, user, non-member, signed out — the status, what the page offers
 * that viewer, and what it does not. Refusals are pages in the layout, never bare HTML.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { BrowserHttp, startSessionFor } from "../helpers/browser_http.ts";
import {
  type ConsoleWorld,
  seedConsoleWorld,
  type Viewer,
  viewerOf,
} from "../helpers/console_admin_world.ts";

type Who = Viewer | "signed out";
const VIEWERS: Who[] = ["admin", "builder", "user", "non-member", "signed out"];

interface Expect {
  status: number;
  /** Text (or HTML) the page shows this viewer. */
  has?: string[];
  /** Text (or HTML) it must not show them. */
  lacks?: string[];
}

interface PageCase {
  path: (w: ConsoleWorld) => string;
  expect: Partial<Record<Who, Expect>>;
}

const notMember: Expect = { status: 404, has: ["Workspace not found"] };
const toLogin: Expect = { status: 303 };

const PAGES: Record<string, PageCase> = {
  home: {
    path: (w) => `/w/${w.ws.sId}`,
    expect: {
      admin: { status: 200, has: ["Getting started", "Your open tasks"] },
      builder: { status: 200, has: ["Your open tasks"], lacks: ["Getting started"] },
      user: { status: 200, has: ["Write the release notes", "Release checklist"] },
    },
  },
  members: {
    path: (w) => `/w/${w.ws.sId}/members`,
    expect: {
      admin: {
        status: 200,
        has: ["/members/invite", "uma@acme.example", "newcomer@acme.example", "Finance team"],
      },
      builder: { status: 403, has: ["Only workspace admins can manage members."] },
      user: { status: 403, has: ["Only workspace admins can manage members."] },
    },
  },
  group: {
    path: (w) => `/w/${w.ws.sId}/members/groups/${w.groupId}`,
    expect: {
      admin: { status: 200, has: ["Finance team", "uma@acme.example", "Delete this group"] },
      builder: { status: 403 },
      user: { status: 403 },
    },
  },
  spaces: {
    path: (w) => `/w/${w.ws.sId}/spaces`,
    expect: {
      admin: { status: 200, has: ["Create space", "Create Pod", "Finance", "Launch v2"] },
      builder: { status: 200, has: ["Create Pod", "Handbook"], lacks: ["Create space", "Finance"] },
      user: {
        status: 200,
        has: ["Builders and admins create Pods.", "Finance", "Launch v2"],
        lacks: ["Create space", "Create Pod"],
      },
    },
  },
  "restricted space": {
    path: (w) => `/w/${w.ws.sId}/spaces/${w.restrictedSpaceId}`,
    expect: {
      admin: { status: 200, has: ["Open it to every member", "Groups granted this space"] },
      builder: { status: 404, has: ["Space not found."] },
      user: { status: 200, has: ["You read it."], lacks: ["Open it to every member"] },
    },
  },
  pod: {
    path: (w) => `/w/${w.ws.sId}/pods/${w.podId}`,
    expect: {
      admin: { status: 200, has: ["Add task", "plan.md"], lacks: ["Archive the Pod"] },
      builder: { status: 200, has: ["Archive the Pod", "Every member of the workspace is in."] },
      user: { status: 200, has: ["Leave", "Migrate the billing service"], lacks: ["Archive"] },
    },
  },
  credentials: {
    path: (w) => `/w/${w.ws.sId}/credentials`,
    expect: {
      admin: { status: 200, has: ['id="api-keys"', "CI pipeline", "Your MCP token"] },
      builder: { status: 200, has: ["Your MCP token"], lacks: ['id="api-keys"', "CI pipeline"] },
      user: { status: 200, has: ["Your personal access tokens"], lacks: ['id="api-keys"'] },
    },
  },
  audit: {
    path: (w) => `/w/${w.ws.sId}/audit`,
    expect: {
      admin: { status: 200, has: ["Calls over time by tool", "Busiest clients"] },
      builder: { status: 403, has: ["Only workspace admins can read the audit log."] },
      user: { status: 403 },
    },
  },
  settings: {
    path: (w) => `/w/${w.ws.sId}/settings`,
    expect: {
      admin: { status: 200, has: ["Static OAuth clients"] },
      builder: { status: 403, has: ["Only workspace admins can change MCP settings."] },
      user: { status: 403 },
    },
  },
  doctor: {
    path: (w) => `/w/${w.ws.sId}/doctor`,
    expect: {
      admin: { status: 200, has: ["Connection doctor", "Run the doctor", "Real clients&#39;"] },
      builder: { status: 403, has: ["Only workspace admins can run the doctor."] },
      user: { status: 403 },
    },
  },
  integrations: {
    path: (w) => `/w/${w.ws.sId}/integrations`,
    expect: {
      admin: { status: 200, has: ["Generate MCP token"] },
      builder: { status: 200, has: ["Generate MCP token"] },
      user: { status: 200, has: ["Generate MCP token"] },
    },
  },
  connected: {
    path: (w) => `/w/${w.ws.sId}/connected`,
    expect: {
      admin: { status: 200, has: ["Everyone&#39;s access"] },
      builder: { status: 200, has: ["Your access"] },
      user: { status: 200, has: ["Your access"] },
    },
  },
};

async function browserFor(w: ConsoleWorld, who: Who): Promise<BrowserHttp> {
  const b = new BrowserHttp(w.s.url);
  if (who !== "signed out") await startSessionFor(w.s, b, viewerOf(w, who).user.id);
  return b;
}

Deno.test("[console] every page, for each role: what it may do, and refused the rest", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s, { audit: 30 });
  let checked = 0;
  for (const who of VIEWERS) {
    const b = await browserFor(w, who);
    for (const [name, page] of Object.entries(PAGES)) {
      const path = page.path(w);
      const expected = page.expect[who] ??
        (who === "non-member" ? notMember : who === "signed out" ? toLogin : undefined);
      assert.ok(expected, `${name}: no expectation for ${who}`);
      const r = await b.get(path);
      const label = `${who} GET ${name} (${path})`;
      assert.equal(r.status, expected.status, `${label}: ${r.text.slice(0, 300)}`);
      if (r.status === 303) assert.match(r.location ?? "", /^\/login\?next=/, label);
      else {
        assert.match(r.text, /^<!DOCTYPE html>|^<html/i, `${label}: a page`);
        assert.match(r.text, /<main id="main"/, `${label}: in the layout`);
      }
      for (const text of expected.has ?? []) assert.ok(r.text.includes(text), `${label}: ${text}`);
      for (const text of expected.lacks ?? []) {
        assert.ok(!r.text.includes(text), `${label}: must not show ${text}`);
      }
      checked++;
    }
  }
  assert.equal(checked, VIEWERS.length * Object.keys(PAGES).length);
});

Deno.test("[console] the navigation shows each role the pages it may use, and only those", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const base = `/w/${w.ws.sId}`;
  const everyone = ["", "/conversations", "/agents", "/knowledge", "/spaces", "/credentials"];
  const admins = ["/members", "/audit", "/settings", "/doctor"];
  for (const who of ["admin", "builder", "user"] as const) {
    const page = await (await browserFor(w, who)).get(base);
    const links = [...page.text.matchAll(/<nav class="side"[\s\S]*?<\/nav>/g)][0][0];
    for (const p of everyone) {
      assert.ok(links.includes(`href="${base}${p}"`), `${who} sees ${p || "home"}`);
    }
    for (const p of admins) {
      assert.equal(links.includes(`href="${base}${p}"`), who === "admin", `${who} and ${p}`);
    }
    assert.equal(links.includes('href="/admin/model"'), who === "admin", "instance admin only");
  }
});

Deno.test("[console] / sends a visitor to sign-in, to their only workspace or to the picker", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  assert.equal((await new BrowserHttp(s.url).get("/")).location, "/login");
  assert.equal((await (await browserFor(w, "user")).get("/")).location, `/w/${w.ws.sId}`);
  // The outsider belongs to one workspace too; a user of two gets the picker.
  await s.deps.db.run(
    "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, 'user', 0)",
    w.outsider.workspace.id,
    w.user.user.id,
  );
  const b = await browserFor(w, "user");
  assert.equal((await b.get("/")).location, "/w");
  const picker = await b.get("/w");
  assert.equal(picker.status, 200);
  assert.ok(picker.text.includes(`href="/w/${w.ws.sId}"`));
  assert.ok(picker.text.includes(`href="/w/${w.outsider.workspace.sId}"`));
});

Deno.test("[console] a browser gets pages for unknown paths and errors; API clients keep JSON", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const b = await browserFor(w, "user");
  const html = await b.request("/no/such/page", { headers: { accept: "text/html" } });
  assert.equal(html.status, 404);
  assert.match(html.text, /<h1>Page not found<\/h1>/);
  assert.match(html.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  const json = await fetch(`${s.url}/no/such/page`);
  assert.equal(json.status, 404);
  assert.equal((await json.json()).error.type, "not_found");
  const api = await fetch(`${s.url}/api/v1/w/${w.ws.sId}/spaces`, {
    headers: { accept: "text/html" },
  });
  assert.equal(api.status, 401);
  assert.match(api.headers.get("content-type") ?? "", /json/, "the API never answers HTML");
  await api.body?.cancel();
});
