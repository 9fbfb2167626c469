/**
 * The console in a real browser (Debian chromium, playwright-core, tests/helpers/browser.ts):
 * every page for each role — admin, builder, user, non-member — shows what that role may do
 * and refuses the rest; no page breaks its Content-Security-Policy or logs a script error;
 * axe-core finds no serious or critical accessibility violation on any of them; the scripts
 * that need a browser work (copy buttons shown, charts drawn); and a teammate is invited,
 * accepts and lands in the workspace, all by clicking.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { Browser } from "../helpers/browser.ts";
import {
  type ConsoleWorld,
  seedConsoleWorld,
  type Viewer,
  viewerOf,
} from "../helpers/console_admin_world.ts";

interface Visit {
  path: (w: ConsoleWorld) => string;
  /** Per role: expected status and a selector that must be on the page (or absent). */
  roles: Record<Viewer, { status: number; present?: string; absent?: string }>;
}

const member = (present?: string) => ({ status: 200, present });
const nope = { status: 404 };
const forbidden = { status: 403 };

const VISITS: Record<string, Visit> = {
  home: {
    path: (w) => `/w/${w.ws.sId}`,
    roles: {
      admin: member("text=Getting started"),
      builder: { status: 200, absent: "text=Getting started" },
      user: member("text=Write the release notes"),
      "non-member": nope,
    },
  },
  picker: {
    path: () => "/w",
    roles: {
      admin: member("text=Acme"),
      builder: member("text=Acme"),
      user: member("text=Acme"),
      "non-member": { status: 200, absent: "text=Acme" },
    },
  },
  members: {
    path: (w) => `/w/${w.ws.sId}/members`,
    roles: {
      admin: member("button:has-text('Create invitation link')"),
      builder: forbidden,
      user: forbidden,
      "non-member": nope,
    },
  },
  group: {
    path: (w) => `/w/${w.ws.sId}/members/groups/${w.groupId}`,
    roles: {
      admin: member("button:has-text('Delete this group')"),
      builder: forbidden,
      user: forbidden,
      "non-member": nope,
    },
  },
  spaces: {
    path: (w) => `/w/${w.ws.sId}/spaces`,
    roles: {
      admin: member("button:has-text('Create space')"),
      builder: {
        status: 200,
        present: "button:has-text('Create Pod')",
        absent: "text=Create space",
      },
      user: { status: 200, absent: "button:has-text('Create Pod')" },
      "non-member": nope,
    },
  },
  space: {
    path: (w) => `/w/${w.ws.sId}/spaces/${w.restrictedSpaceId}`,
    roles: {
      admin: member("button:has-text('Open it to every member')"),
      builder: nope,
      user: { status: 200, absent: "button:has-text('Open it to every member')" },
      "non-member": nope,
    },
  },
  pod: {
    path: (w) => `/w/${w.ws.sId}/pods/${w.podId}`,
    roles: {
      admin: {
        status: 200,
        present: "button:has-text('Add task')",
        absent: "text=Archive the Pod",
      },
      builder: member("button:has-text('Archive the Pod')"),
      user: { status: 200, present: "button:has-text('Leave')", absent: "text=Archive the Pod" },
      "non-member": nope,
    },
  },
  credentials: {
    path: (w) => `/w/${w.ws.sId}/credentials`,
    roles: {
      admin: member("#api-keys"),
      builder: { status: 200, present: "#mcp-token", absent: "#api-keys" },
      user: { status: 200, present: "#personal-tokens", absent: "#api-keys" },
      "non-member": nope,
    },
  },
  integrations: {
    path: (w) => `/w/${w.ws.sId}/integrations`,
    roles: {
      admin: member("button:has-text('Generate MCP token')"),
      builder: member("button:has-text('Generate MCP token')"),
      user: member("button:has-text('Generate MCP token')"),
      "non-member": nope,
    },
  },
  connected: {
    path: (w) => `/w/${w.ws.sId}/connected`,
    roles: {
      admin: member("text=Everyone's access"),
      builder: member("text=Your access"),
      user: member("text=Your access"),
      "non-member": nope,
    },
  },
  audit: {
    path: (w) => `/w/${w.ws.sId}/audit`,
    roles: {
      admin: member("#chart-tools .uplot"),
      builder: forbidden,
      user: forbidden,
      "non-member": nope,
    },
  },
  settings: {
    path: (w) => `/w/${w.ws.sId}/settings`,
    roles: {
      admin: member("button:has-text('Save settings')"),
      builder: forbidden,
      user: forbidden,
      "non-member": nope,
    },
  },
  doctor: {
    path: (w) => `/w/${w.ws.sId}/doctor`,
    roles: {
      admin: member("button:has-text('Run the doctor')"),
      builder: forbidden,
      user: forbidden,
      "non-member": nope,
    },
  },
  account: {
    path: () => "/account",
    roles: {
      admin: member("button:has-text('Change password')"),
      builder: member("button:has-text('Change password')"),
      user: member("button:has-text('Change password')"),
      "non-member": member("button:has-text('Change password')"),
    },
  },
  model: {
    path: () => "/admin/model",
    roles: {
      admin: member("button:has-text('Save')"),
      builder: forbidden,
      user: forbidden,
      "non-member": forbidden,
    },
  },
};

const ROLES: Viewer[] = ["admin", "builder", "user", "non-member"];

/** Visit, check the status and the role's markers, the CSP and the console, then axe. */
async function check(b: Browser, url: string, label: string, e: Visit["roles"][Viewer]) {
  const r = await b.goto(url);
  assert.equal(r.status, e.status, `${label}: status`);
  if (e.present) assert.ok(await b.count(e.present) > 0, `${label}: ${e.present}`);
  if (e.absent) assert.equal(await b.count(e.absent), 0, `${label}: no ${e.absent}`);
  assert.ok(await b.count("main#main") === 1, `${label}: the layout`);
  const csp = await b.csp();
  assert.deepEqual(csp.violations, [], `${label}: CSP violations`);
  assert.deepEqual(csp.consoleErrors.filter((m) => !/status of 4\d\d/.test(m)), [], label);
  assert.deepEqual(await b.axe(), [], `${label}: accessibility`);
}

Deno.test("[browser] every console page, for each role, in chromium: allowed, refused, CSP-clean and accessible", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s, { audit: 60 });
  await using b = await Browser.start();
  for (const role of ROLES) {
    await b.signInAs(s, viewerOf(w, role).user.id);
    for (const [name, visit] of Object.entries(VISITS)) {
      await check(b, `${s.url}${visit.path(w)}`, `${role} ${name}`, visit.roles[role]);
    }
  }
  // Signed out: sign-in, setup gone, an invitation, a missing page.
  await b.signOut();
  const signedOut: [string, number][] = [
    ["/login", 200],
    ["/setup", 410],
    ["/invite?token=dinv_unknown", 404],
    ["/no/such/page", 404],
  ];
  for (const [path, status] of signedOut) {
    await check(b, `${s.url}${path}`, `signed out ${path}`, { status });
  }
  const toLogin = await b.goto(`${s.url}/w/${w.ws.sId}/members`);
  assert.match(toLogin.url, /\/login\?next=/, "signed out: sent to sign-in");
});

Deno.test("[browser] scripts where they are needed: copy buttons appear and copy, charts are drawn", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s, { audit: 80 });
  await using b = await Browser.start();
  await b.signInAs(s, w.admin.user.id);
  await b.goto(`${s.url}/w/${w.ws.sId}/integrations`);
  assert.ok(await b.count("button[data-copy]:visible") >= 1, "copy buttons shown by the script");
  await b.click("#mcp-url + button[data-copy]", false);
  // The clipboard write is a promise: the label changes when it settles (bounded wait).
  let label = await b.text("#mcp-url + button[data-copy]");
  for (let i = 0; i < 50 && label !== "Copied"; i++) {
    await new Promise((r) => setTimeout(r, 100));
    label = await b.text("#mcp-url + button[data-copy]");
  }
  assert.equal(label, "Copied");
  const height = await b.eval<number>("document.documentElement.scrollHeight");
  assert.ok(height < 2600, `the Integrations page is ${height} px tall`);
  await b.goto(`${s.url}/w/${w.ws.sId}/audit`);
  // Number and typeless inputs look like the others (they were unstyled).
  const style = await b.eval<string[]>(`["#retentionDays", "#tool", "#user"].map((q) => {
    const c = getComputedStyle(document.querySelector(q));
    return c.borderTopLeftRadius + " " + c.paddingLeft;
  })`);
  assert.equal(new Set(style).size, 1, `inputs styled alike: ${style}`);
  for (const id of ["chart-tools", "chart-outcomes", "chart-latency"]) {
    assert.equal(await b.count(`#${id} .uplot canvas`), 1, `${id} drawn`);
  }
  // Tables stay inside their cards: no page-wide horizontal scroll at 1280 px.
  const overflow = await b.eval<number>(
    "document.documentElement.scrollWidth - document.documentElement.clientWidth",
  );
  assert.equal(overflow, 0, "no horizontal page scroll");
  const outside = await b.eval<number>(`[...document.querySelectorAll(".card")].filter((card) =>
    [...card.querySelectorAll("button, table")].some((el) =>
      el.getBoundingClientRect().right > card.getBoundingClientRect().right + 1 &&
      !el.closest(".table-wrap"))).length`);
  assert.equal(outside, 0, "no button or table sticks out of its card");
});

Deno.test("[browser] an admin invites a teammate, who accepts by creating an account and lands in the workspace", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  await using b = await Browser.start();
  await b.signInAs(s, w.admin.user.id);
  await b.goto(`${s.url}/w/${w.ws.sId}/members`);
  await b.fill("#invite-email", "tess@acme.example");
  await b.select("#invite-role", "builder");
  await b.click("button:has-text('Create invitation link')");
  const link = (await b.text("#invite-url"))!;
  assert.match(link, /\/invite\?token=dinv_/);
  await b.signOut();
  await b.goto(link);
  assert.deepEqual(await b.axe(), [], "the invitation page is accessible");
  await b.fill("#name", "Tess Teammate");
  await b.fill("#password", "a long enough password");
  const landed = await b.click("button:has-text('Create account and join')");
  assert.equal(new URL(landed.url).pathname, `/w/${w.ws.sId}`);
  assert.match((await b.text("main h1"))!, /Acme/);
  assert.match((await b.text("main"))!, /a builder of this workspace/);
  assert.ok(
    await b.count("nav.side a:has-text('Spaces and Pods')") === 1,
    "the navigation is there",
  );
});
