/**
 * `deno run -A scripts/screenshots.ts`: the README's pictures of the console — a test server
 * with a seeded workspace (tests/helpers/console_admin_world.ts) in headless chromium, one PNG per
 * main page into docs/screenshots/ (1280×800, the top of the page).
 * @module
 */
import { startTestServer } from "../tests/helpers/server.ts";
import { seedConsoleWorld } from "../tests/helpers/console_admin_world.ts";
import { Browser } from "../tests/helpers/browser.ts";
import { pageActorOf } from "../tests/helpers/oauth_client.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import { createAgent } from "../src/core/agent_editing.ts";

const out = new URL("../docs/screenshots/", import.meta.url);
await Deno.mkdir(out, { recursive: true });
await using s = await startTestServer();
const w = await seedConsoleWorld(s, { audit: 400 });
// Knowledge and an agent for their pages (made through the core, as the pages would).
const admin = await pageActorOf(s, w.admin);
const ds = (await createDataSource(s.deps, admin, {
  spaceId: w.openSpaceId,
  name: "Policies",
  description: "How we work",
})).data_source.sId as string;
const docs: [string, string, string][] = [
  ["travel", "Travel policy", "Book trains for trips under four hours. Economy class for flights."],
  ["expenses", "Expense reports", "Submit receipts within 30 days through the finance portal."],
  ["onboarding", "Onboarding checklist", "Laptop, accounts, a buddy, and the first week's plan."],
];
for (const [documentId, title, text] of docs) {
  await upsertDocument(s.deps, admin, {
    spaceId: w.openSpaceId,
    dataSourceId: ds,
    documentId,
    title,
    text,
  });
}
await createAgent(s.deps, admin, {
  name: "policy-helper",
  description: "Answers questions about company policies, with citations.",
  instructions: "Search the Handbook and answer with citations.",
  spaceIds: [w.openSpaceId],
});
await using b = await Browser.start();
await b.signInAs(s, w.admin.user.id);
const base = `${s.url}/w/${w.ws.sId}`;
const pages: [string, string][] = [
  ["home", base],
  ["pod", `${base}/pods/${w.podId}`],
  ["members", `${base}/members`],
  ["spaces", `${base}/spaces`],
  ["credentials", `${base}/credentials`],
  ["audit", `${base}/audit`],
  ["integrations", `${base}/integrations`],
  ["knowledge", `${base}/knowledge/${w.openSpaceId}/${ds}`],
  ["agents", `${base}/agents`],
];
for (const [name, url] of pages) {
  await b.goto(url);
  await b.screenshot(new URL(`${name}.png`, out).pathname, { width: 1280, height: 800 });
  console.log(`docs/screenshots/${name}.png`);
}
