/** @jsxImportSource hono/jsx */
/**
 * An invitation link (`/invite?token=…`, core/invitations.ts): whoever opens it sees the
 * workspace and role, then joins — signed in as the invited email already, by signing in with
 * that email's password, or by creating the account (name + password; the email is the
 * invitation's). Then they are signed in and on the workspace's home.
 *
 * The link's secret is the form's CSRF defence (like setup's token: an attacker cannot know
 * it), on top of the origin check. It is never logged (`token` is redacted in URLs) and the
 * page is not cached and sends no referrer.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { errorPage, Flash, Layout } from "./layout.tsx";
import { notePageSession, securePage } from "./page_security.ts";
import { currentSession, originCheck } from "./page_auth.ts";
import {
  acceptInvitation,
  acceptInvitationWithNewAccount,
  findInvitation,
  type InvitationForLink,
} from "../core/invitations.ts";
import { findUserByEmail } from "../core/users.ts";
import { checkPassword } from "../core/sign_in.ts";
import { rememberDevice } from "../core/sign_in_devices.ts";
import { clientAddress } from "../auth/rate_limit.ts";
import {
  type PageSession,
  readDeviceCookie,
  setDeviceCookie,
  startSession,
} from "../auth/sessions.ts";
import { AppError } from "../errors.ts";

type Mode = "join" | "signin" | "signup" | "other";

interface Props {
  inv: InvitationForLink;
  token: string;
  mode: Mode;
  session: PageSession | null;
  error?: string;
  name?: string;
}

function InvitePage(p: Props) {
  return (
    <Layout title={`Join ${p.inv.workspace.name}`} narrow>
      <div class="card">
        <h1>Join “{p.inv.workspace.name}”</h1>
        <p>
          You are invited as <strong>{p.inv.role}</strong> with the email{" "}
          <strong>{p.inv.email}</strong>.
        </p>
        <Flash error={p.error} />
        {p.mode === "other"
          ? (
            <>
              <p>
                You are signed in as{" "}
                {p.session?.user.email}. Sign out, then open the invitation link again to join as
                {" "}
                {p.inv.email}.
              </p>
              <form method="post" action="/logout">
                <input type="hidden" name="csrf" value={p.session?.session.csrf ?? ""} />
                <button type="submit" class="secondary">Sign out</button>
              </form>
            </>
          )
          : (
            <form method="post" action="/invite/accept">
              <input type="hidden" name="token" value={p.token} />
              <input type="hidden" name="action" value={p.mode} />
              {p.mode === "signup"
                ? (
                  <>
                    <p class="muted">Create your account to join.</p>
                    <label for="name">Your name</label>
                    <input
                      id="name"
                      type="text"
                      name="name"
                      required
                      maxlength={255}
                      autocomplete="name"
                      value={p.name ?? ""}
                    />
                    <label for="password">Password (at least 8 characters)</label>
                    <input
                      id="password"
                      type="password"
                      name="password"
                      required
                      minlength={8}
                      autocomplete="new-password"
                    />
                  </>
                )
                : null}
              {p.mode === "signin"
                ? (
                  <>
                    <p class="muted">{p.inv.email} has an account: sign in to join.</p>
                    <label for="password">Password</label>
                    <input
                      id="password"
                      type="password"
                      name="password"
                      required
                      autocomplete="current-password"
                    />
                  </>
                )
                : null}
              <button type="submit">
                {p.mode === "signup"
                  ? "Create account and join"
                  : p.mode === "signin"
                  ? "Sign in and join"
                  : `Join ${p.inv.workspace.name}`}
              </button>
            </form>
          )}
      </div>
    </Layout>
  );
}

async function modeFor(
  c: Context<AppEnv>,
  inv: InvitationForLink,
  session: PageSession | null,
): Promise<Mode> {
  if (session) return session.user.email === inv.email ? "join" : "other";
  return await findUserByEmail(c.get("deps").db, inv.email) ? "signin" : "signup";
}

/** The invitation of the link, or the page saying why it cannot be used. */
async function usableInvitation(
  c: Context<AppEnv>,
  token: string,
): Promise<InvitationForLink | Response> {
  const inv = await findInvitation(c.get("deps").db, token);
  if (!inv) return await errorPage(c, 404, "Invitation not found", "This link is not valid.");
  const why = {
    accepted: "This invitation has already been used. Sign in to open the workspace.",
    revoked: "This invitation was revoked. Ask an admin of the workspace for a new one.",
    expired: "This invitation has expired. Ask an admin of the workspace for a new one.",
  } as const;
  if (inv.state !== "pending") {
    return await errorPage(c, 410, "Invitation no longer valid", why[inv.state]);
  }
  return inv;
}

export function inviteRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/invite", securePage);
  app.use("/invite/*", securePage, originCheck);

  app.get("/invite", async (c) => {
    const token = c.req.query("token") ?? "";
    const inv = await usableInvitation(c, token);
    if (inv instanceof Response) return inv;
    const session = await currentSession(c);
    notePageSession(session);
    return c.html(
      <InvitePage
        inv={inv}
        token={token}
        session={session}
        mode={await modeFor(c, inv, session)}
      />,
    );
  });

  app.post("/invite/accept", async (c) => {
    const deps = c.get("deps");
    const body = await c.req.parseBody();
    const field = (k: string) => (typeof body[k] === "string" ? body[k] as string : "");
    const token = field("token");
    const inv = await usableInvitation(c, token);
    if (inv instanceof Response) return inv;
    const session = await currentSession(c);
    notePageSession(session);
    const mode = await modeFor(c, inv, session);
    const again = (error: string, status: number) =>
      c.html(
        <InvitePage
          inv={inv}
          token={token}
          session={session}
          mode={mode}
          error={error}
          name={field("name")}
        />,
        status as 400,
      );
    if (mode !== field("action")) return again("Please try again.", 409);
    try {
      let userId: number;
      if (mode === "join") {
        userId = session!.user.id;
        await acceptInvitation(deps, { token, userId });
      } else if (mode === "signin") {
        const device = readDeviceCookie(c);
        const user = await checkPassword(deps, {
          email: inv.email,
          password: field("password"),
          address: clientAddress(c),
          device,
        });
        if (!user) return again("Wrong password. Try again.", 401);
        await acceptInvitation(deps, { token, userId: user.id });
        setDeviceCookie(c, await rememberDevice(deps.db, user.id, device));
        userId = user.id;
      } else if (mode === "signup") {
        const r = await acceptInvitationWithNewAccount(deps, {
          token,
          name: field("name"),
          password: field("password"),
        });
        userId = r.user.id;
      } else return again("Sign out first.", 409);
      if (mode !== "join") await startSession(c, userId);
      return c.redirect(`/w/${inv.workspace.sId}`, 303);
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      if (e.status === 429 || e.status === 503) {
        c.header("Retry-After", String(e.extra?.retryAfter ?? 60));
      }
      return again(e.message, e.status);
    }
  });
  return app;
}
