/** @jsxImportSource hono/jsx */
/**
 * Sign-in (email + password) and sign-out. The password check, its failure limits and the
 * known-browser cookie are `core/sign_in.ts` (one path for every password check). A wrong
 * password says so plainly; an unknown email gets the same answer after the same work.
 *
 * Regions: with `--peer-url`, an email unknown in this region sends the browser to the peer's
 * sign-in page with the email prefilled (`?email=…&from_peer=1`); the password is never
 * forwarded and no secret is shared between regions. `from_peer=1` stops a ping-pong when the
 * email is unknown in both regions.
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { Layout } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import {
  currentSession,
  endSession,
  readDeviceCookie,
  setDeviceCookie,
  startSession,
} from "../auth/sessions.ts";
import { originCheck, readCsrfForm, safeNextPath } from "./page_auth.ts";
import { findUserByEmail } from "../core/users.ts";
import { clientAddress } from "../auth/rate_limit.ts";
import { checkPassword } from "../core/sign_in.ts";
import { rememberDevice } from "../core/sign_in_devices.ts";
import { AppError } from "../errors.ts";

function LoginForm(
  props: { next: string; email?: string; error?: string; note?: string; fromPeer?: boolean },
) {
  return (
    <Layout title="Sign in" narrow>
      <div class="card">
        <h1>Sign in to dust-mcp</h1>
        {props.note ? <p class="muted">{props.note}</p> : null}
        {props.error ? <p class="error" role="alert">{props.error}</p> : null}
        <form method="post" action="/login">
          <input type="hidden" name="next" value={props.next} />
          {props.fromPeer ? <input type="hidden" name="from_peer" value="1" /> : null}
          <label for="email">Email</label>
          <input
            id="email"
            type="email"
            name="email"
            required
            autocomplete="username"
            value={props.email ?? ""}
          />
          <label for="password">Password</label>
          <input
            id="password"
            type="password"
            name="password"
            required
            autocomplete="current-password"
          />
          <button type="submit">Sign in</button>
        </form>
      </div>
    </Layout>
  );
}

export function loginRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/login", securePage);
  app.use("/logout", securePage);
  app.use("/login", originCheck);
  app.use("/logout", originCheck);

  app.get("/login", (c) => {
    const fromPeer = c.req.query("from_peer") === "1";
    return c.html(
      <LoginForm
        next={safeNextPath(c.req.query("next"))}
        email={c.req.query("email")?.slice(0, 320)}
        fromPeer={fromPeer}
        note={fromPeer
          ? "Your account lives in this region. Sign in here; connect your AI clients to this region's MCP URL."
          : undefined}
      />,
    );
  });

  app.post("/login", async (c) => {
    const deps = c.get("deps");
    const form = await c.req.parseBody();
    const str = (k: string) => (typeof form[k] === "string" ? (form[k] as string) : "");
    const email = str("email").trim().toLowerCase().slice(0, 320);
    const next = safeNextPath(str("next"));
    if (deps.config.peerUrl && str("from_peer") !== "1" && !await findUserByEmail(deps.db, email)) {
      const target = new URL("/login", deps.config.peerUrl);
      target.searchParams.set("email", email);
      target.searchParams.set("from_peer", "1");
      return c.redirect(target.href, 303);
    }
    const device = readDeviceCookie(c);
    let user;
    try {
      user = await checkPassword(deps, {
        email,
        password: str("password"),
        address: clientAddress(c),
        device,
      });
    } catch (e) {
      // Over a sign-in limit (429) or too many sign-ins being checked at once (503).
      if (!(e instanceof AppError) || (e.status !== 429 && e.status !== 503)) throw e;
      c.header("Retry-After", String(e.extra?.retryAfter ?? 60));
      const status = e.status === 429 ? 429 : 503;
      return c.html(<LoginForm next={next} email={email} error={e.message} />, status);
    }
    if (!user) {
      return c.html(
        <LoginForm
          next={next}
          email={email}
          error="Wrong email or password. Check both and try again."
        />,
        401,
      );
    }
    setDeviceCookie(c, await rememberDevice(deps.db, user.id, device));
    await startSession(c, user.id);
    return c.redirect(next, 303);
  });

  app.post("/logout", async (c) => {
    const session = await currentSession(c);
    if (session && await readCsrfForm(c, session)) await endSession(c);
    return c.redirect("/login", 303);
  });
  return app;
}
