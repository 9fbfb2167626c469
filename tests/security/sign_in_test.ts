/**
 * Sign-in against an attacker (issue 10, finding 4): the same password hashing for unknown and
 * known emails; failure limits that no flood of made-up emails can evict; no lockout of an
 * account's owner by an attacker's failures (per account + address, account-wide only for
 * browsers the owner never used, per address across accounts); old hashes upgraded at
 * sign-in; the account page's password check under the same limits.
 *
 * Volume (thousands of failures) goes through `recordSignInFailure`, the function a wrong
 * password calls, so the test does not pay a 0.4 s password hash per junk attempt; every
 * verdict is then read through the real sign-in page.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { createPasswordUser, type PasswordUser } from "../helpers/oauth_client.ts";
import { recordSignInFailure, SIGN_IN_LIMITS, signInRetryAfter } from "../../src/core/sign_in.ts";
import { createUser } from "../../src/core/users.ts";
import { derivationCounts, hashPassword, PASSWORD_COST } from "../../src/auth/passwords.ts";

const CURRENT = `${PASSWORD_COST.N},${PASSWORD_COST.r},${PASSWORD_COST.p}`;

/** POST /login as a browser, optionally behind a proxy that appended `address`. */
function signIn(
  b: BrowserHttp,
  email: string,
  password: string,
  address?: string,
  spoofed = "192.0.2.1",
) {
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    origin: b.origin,
  };
  // A client may send any X-Forwarded-For; the proxy appends the real address last.
  if (address) headers["x-forwarded-for"] = `${spoofed}, ${address}`;
  return b.request("/login", {
    method: "POST",
    headers,
    body: new URLSearchParams({ email, password, next: "/account" }),
  });
}

async function failTimes(b: BrowserHttp, email: string, n: number, address?: string) {
  for (let i = 0; i < n; i++) {
    const r = await signIn(b, email, "not the password", address, `192.0.2.${i}`);
    assert.equal(r.status, 401, `failure ${i + 1}`);
  }
}

/** Derivations done by `fn`, per cost (only the costs whose count moved). */
async function derivationsDuring(fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = derivationCounts();
  await fn();
  const delta: Record<string, number> = {};
  for (const [cost, n] of derivationCounts()) {
    if (n !== (before.get(cost) ?? 0)) delta[cost] = n - (before.get(cost) ?? 0);
  }
  return delta;
}

async function twoUsers(s: TestServer): Promise<{ alice: PasswordUser; bob: PasswordUser }> {
  const alice = await createPasswordUser(s, { email: "alice@a.example" });
  const bob = await createPasswordUser(s, { email: "bob@a.example", workspace: alice.workspace });
  return { alice, bob };
}

Deno.test("[security] sign-in: 10,000 failures with made-up emails do not free a limited account", async () => {
  await using s = await startTestServer();
  const { alice, bob } = await twoUsers(s);
  const attacker = new BrowserHttp(s.url);
  await failTimes(attacker, alice.email, SIGN_IN_LIMITS.perAccountAddress);
  const limited = await signIn(attacker, alice.email, alice.password);
  assert.equal(limited.status, 429, "control: the account is limited from this address");
  // The flood that evicted the victim's counter from the old 10,000-entry table.
  for (let i = 0; i < 10_500; i++) {
    await recordSignInFailure(s.deps.db, {
      email: `junk-${i}@made-up.example`,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    });
  }
  const still = await signIn(attacker, alice.email, alice.password);
  assert.equal(still.status, 429, "the account is still limited after the flood");
  assert.ok(Number(still.headers.get("retry-after")) > 0);
  assert.match(still.text, /Too many failed sign-in attempts/);
  const other = await signIn(attacker, bob.email, "not the password");
  assert.equal(other.status, 401, "another account from the same address is not limited");
});

Deno.test("[security] sign-in: an unknown email costs the same password hashing as a known one", async () => {
  await using s = await startTestServer();
  const { alice } = await twoUsers(s);
  await createUser(s.deps.db, { email: "nopass@a.example", name: "No Password", password: null });
  const b = new BrowserHttp(s.url);
  const cases: [string, string, string, number][] = [
    ["a known email, wrong password", alice.email, "not the password", 401],
    ["an unknown email", "nobody@a.example", "not the password", 401],
    ["an account without a password", "nopass@a.example", "not the password", 401],
    ["a known email, right password", alice.email, alice.password, 303],
  ];
  for (const [what, email, password, status] of cases) {
    let res: { status: number } = { status: 0 };
    const work = await derivationsDuring(async () => res = await signIn(b, email, password));
    assert.equal(res.status, status, what);
    assert.deepEqual(work, { [CURRENT]: 1 }, `${what}: one derivation at the current cost`);
  }
});

Deno.test("[security] sign-in: an attacker's failures from their address never lock the owner out of another", async () => {
  await using s = await startTestServer({ flags: { "client-ip-header": "x-forwarded-for" } });
  const { alice } = await twoUsers(s);
  const attacker = new BrowserHttp(s.url);
  await failTimes(attacker, alice.email, SIGN_IN_LIMITS.perAccountAddress, "203.0.113.7");
  const limited = await signIn(attacker, alice.email, alice.password, "203.0.113.7", "10.9.9.9");
  assert.equal(limited.status, 429, "the attacker's address is limited, whatever it spoofs");
  const owner = new BrowserHttp(s.url);
  const ok = await signIn(owner, alice.email, alice.password, "198.51.100.9");
  assert.equal(ok.status, 303, "the owner signs in from another address");
});

Deno.test("[security] sign-in: an account attacked from many addresses still lets its owner in from a browser they used before", async () => {
  // No proxy header: every client shares one address, as behind a reverse proxy.
  await using s = await startTestServer();
  const { alice } = await twoUsers(s);
  const owner = new BrowserHttp(s.url);
  assert.equal((await signIn(owner, alice.email, alice.password)).status, 303);
  const attacker = new BrowserHttp(s.url);
  await failTimes(attacker, alice.email, SIGN_IN_LIMITS.perAccountAddress);
  for (let i = 0; i < SIGN_IN_LIMITS.perAccount; i++) {
    await recordSignInFailure(s.deps.db, { email: alice.email, address: `203.0.113.${i}` });
  }
  const stranger = await signIn(new BrowserHttp(s.url), alice.email, alice.password);
  assert.equal(stranger.status, 429, "control: a browser never used for the account is limited");
  const known = await signIn(owner, alice.email, alice.password);
  assert.equal(known.status, 303, "the owner's known browser signs in");
  // The known browser has a budget of its own: a stolen cookie is no free pass.
  await failTimes(owner, alice.email, SIGN_IN_LIMITS.perDevice);
  assert.equal((await signIn(owner, alice.email, alice.password)).status, 429);
});

Deno.test("[security] sign-in: one address is limited across accounts (password spraying), IPv6 by its /64", async () => {
  await using s = await startTestServer({ flags: { "client-ip-header": "x-forwarded-for" } });
  const { alice } = await twoUsers(s);
  for (let i = 0; i < SIGN_IN_LIMITS.perAddress; i++) {
    await recordSignInFailure(s.deps.db, { email: `user-${i}@a.example`, address: "203.0.113.50" });
    await recordSignInFailure(s.deps.db, {
      email: `user-${i}@a.example`,
      address: `2001:db8:1:2::${i}`,
    });
  }
  const b = new BrowserHttp(s.url);
  assert.equal((await signIn(b, alice.email, alice.password, "203.0.113.50")).status, 429);
  assert.equal((await signIn(b, alice.email, alice.password, "2001:db8:1:2:ab::1")).status, 429);
  const subject = (address: string) => ({ email: alice.email, address });
  assert.equal(
    await signInRetryAfter(s.deps.db, subject("2001:db8:1:3::1")),
    0,
    "another /64 is free",
  );
  assert.equal((await signIn(b, alice.email, alice.password, "198.51.100.1")).status, 303);
});

Deno.test("[security] sign-in: a password hashed at the old cost still works and is rehashed at the current cost", async () => {
  await using s = await startTestServer();
  const email = "legacy@a.example", password = "an old password";
  const user = await createUser(s.deps.db, { email, name: "Legacy", password: null });
  const legacy = await hashPassword(password, { N: 2 ** 14, r: 8, p: 1 });
  await s.deps.db.run(
    "UPDATE users SET password_hash = ?, password_changed_at = 1 WHERE id = ?",
    legacy,
    user.id,
  );
  const stored = async () =>
    await s.deps.db.get(
      "SELECT password_hash, password_changed_at FROM users WHERE id = ?",
      user.id,
    ) as { password_hash: string; password_changed_at: number };

  const wrong = await derivationsDuring(() => signIn(new BrowserHttp(s.url), email, "nope-nope"));
  assert.deepEqual(wrong, { "16384,8,1": 1 }, "a wrong password changes nothing");
  assert.equal((await stored()).password_hash, legacy);
  let status = 0;
  const first = await derivationsDuring(async () =>
    status = (await signIn(new BrowserHttp(s.url), email, password)).status
  );
  assert.equal(status, 303, "the old hash verifies");
  assert.deepEqual(first, { "16384,8,1": 1, [CURRENT]: 1 }, "verified, then rehashed");
  assert.match(
    (await stored()).password_hash,
    new RegExp(`^scrypt\\$${PASSWORD_COST.N}\\$8\\$1\\$`),
  );
  assert.equal((await stored()).password_changed_at, 1, "a rehash is not a password change");
  const again = await derivationsDuring(async () =>
    status = (await signIn(new BrowserHttp(s.url), email, password)).status
  );
  assert.equal(status, 303);
  assert.deepEqual(again, { [CURRENT]: 1 }, "no second rehash");
});

Deno.test("[security] account: the current-password check of a password change is limited like sign-in", async () => {
  await using s = await startTestServer();
  const { alice } = await twoUsers(s);
  const b = new BrowserHttp(s.url);
  await b.signIn(alice.email, alice.password);
  const csrf = formValue((await b.get("/account")).text, "csrf")!;
  const change = (current: string) =>
    b.post("/account/password", { csrf, current, next: "a brand new passphrase" });
  for (let i = 0; i < SIGN_IN_LIMITS.perAccountAddress; i++) {
    assert.equal((await change("not the password")).status, 400);
  }
  const limited = await change(alice.password);
  assert.equal(limited.status, 429);
  assert.match(limited.text, /Too many failed sign-in attempts/);
  const hash = await s.deps.db.get(
    "SELECT password_hash FROM users WHERE id = ?",
    alice.user.id,
  ) as { password_hash: string };
  assert.equal(hash.password_hash, alice.user.passwordHash, "the password did not change");
});
