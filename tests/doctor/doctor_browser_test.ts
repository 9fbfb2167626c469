/**
 * The doctor page in chromium: an admin runs the doctor from the form (CSRF token from the
 * page, CSP nonce on the only script), gets the results tables and the OAuth trace, with no CSP
 * violation and no serious accessibility finding (axe-core).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { Browser } from "../helpers/browser.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";

Deno.test("[browser] doctor page: an admin runs the doctor; results and trace are CSP-clean and accessible", async () => {
  await using s = await startTestServer();
  const admin = await createUserWithToken(s, { email: "admin@example.com", role: "admin" });
  await using b = await Browser.start();
  await b.signInAs(s, admin.user.id);
  const page = await b.goto(`${s.url}/w/${admin.workspace.sId}/doctor`);
  assert.equal(page.status, 200);
  await b.select("#client", "codex");
  const ran = await b.click("button:has-text('Run the doctor')");
  assert.equal(ran.status, 200);
  assert.match(await b.text("#doctor-report") ?? "", /Every step passed\./);
  assert.ok(await b.count("#oauth-trace table") > 0, "the trace shows the run's steps");
  const csp = await b.csp();
  assert.deepEqual(csp.violations, []);
  assert.deepEqual(await b.axe(), []);
});
