/**
 * A tiny browser over plain HTTP for the OAuth pages: a cookie jar, manual redirects, the
 * `Origin` header a browser sends on form POSTs, and the sign-in + consent steps. Every body is
 * consumed.
 *
 * ```ts
 * const b = new BrowserHttp(server.url);
 * await b.signIn("alice@example.com", "correct horse");
 * const callback = await b.approve(authorizeUrl);   // the client's redirect_uri?code=…&state=…&iss=…
 * ```
 */
import assert from "node:assert/strict";
import type { ServerHandle } from "../../src/server.ts";
import { createSession } from "../../src/core/sessions.ts";
import { sessionCookieName } from "../../src/auth/sessions.ts";

export interface PageResponse {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** Values of hidden inputs / selects on a page (the test reads forms like a browser would). */
export function formValue(html: string, name: string): string | null {
  const input = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html) ??
    new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`).exec(html);
  if (input) return unescapeHtml(input[1]);
  const select = new RegExp(`<select[^>]*name="${name}"[^>]*>\\s*<option value="([^"]*)"`).exec(
    html,
  );
  return select ? unescapeHtml(select[1]) : null;
}

function unescapeHtml(s: string): string {
  return s.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">");
}

export class BrowserHttp {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  /** One request with the jar; redirects are returned, not followed. */
  async request(url: string, init: RequestInit = {}): Promise<PageResponse> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) {
      headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const res = await fetch(new URL(url, this.base), { ...init, headers, redirect: "manual" });
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(";");
      const i = pair.indexOf("=");
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /max-age=0\b/i.test(a.trim())) || value === "";
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      location: res.headers.get("location"),
    };
  }

  get(url: string): Promise<PageResponse> {
    return this.request(url);
  }

  /** A form POST as a browser sends it (same-origin `Origin` unless overridden). */
  post(url: string, fields: Record<string, string>, origin: string | null = this.origin) {
    const headers: Record<string, string> = {
      "content-type": "application/x-www-form-urlencoded",
    };
    if (origin !== null) headers.origin = origin;
    return this.request(url, { method: "POST", headers, body: new URLSearchParams(fields) });
  }

  get origin(): string {
    return new URL(this.base).origin;
  }

  /** Sign in with email + password; asserts success. */
  async signIn(email: string, password: string): Promise<void> {
    const page = await this.get("/login");
    assert.equal(page.status, 200);
    const res = await this.post("/login", { email, password, next: "/account" });
    assert.equal(res.status, 303, `sign-in failed: ${res.status} ${res.text.slice(0, 200)}`);
  }

  /** Follow `/authorize` to the consent page; returns the consent page (signed in). */
  async openConsent(authorizeUrl: string): Promise<{ url: string; page: PageResponse }> {
    const start = await this.get(authorizeUrl);
    assert.equal(start.status, 303, `authorize: ${start.status} ${start.text.slice(0, 300)}`);
    const url = start.location!;
    return { url, page: await this.get(url) };
  }

  /**
   * Approve (or deny) an authorization request; returns the client's callback URL that the
   * browser is sent to.
   */
  async approve(
    authorizeUrl: string,
    options: { workspace?: string; readOnly?: boolean; decision?: "approve" | "deny" } = {},
  ): Promise<URL> {
    const { page } = await this.openConsent(authorizeUrl);
    assert.equal(page.status, 200, `consent: ${page.status} ${page.text.slice(0, 300)}`);
    const fields: Record<string, string> = {
      request: formValue(page.text, "request")!,
      csrf: formValue(page.text, "csrf")!,
      workspace: options.workspace ?? formValue(page.text, "workspace")!,
      decision: options.decision ?? "approve",
    };
    if (options.readOnly) fields.read_only = "1";
    const res = await this.post("/authorize/consent", fields);
    assert.equal(res.status, 303, `consent POST: ${res.status} ${res.text.slice(0, 300)}`);
    return new URL(res.location!);
  }
}

/**
 * Give `browser` a session for `userId` made directly in the database, for tests whose subject
 * is a signed-in page rather than sign-in itself: a real sign-in costs a password hash (about
 * 0.4 s at the production cost).
 */
export async function startSessionFor(
  server: Pick<ServerHandle, "deps">,
  browser: BrowserHttp,
  userId: number,
): Promise<void> {
  const { id } = await createSession(server.deps.db, userId);
  browser.cookies.set(sessionCookieName(server.deps.config), id);
}
