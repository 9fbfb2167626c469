/**
 * Browser-session cookies for the pages. On an https public URL the cookie is
 * `__Host-dmcp_session` (Secure, host-only, path /); on plain http (local use) it is
 * `dmcp_session`. Always HttpOnly and SameSite=Lax. The known-browser cookie
 * (`dmcp_device`, same naming rule) outlives sessions: it marks a browser that signed in to
 * an account before, for the sign-in limits. Every POST from a page carries the
 * session's CSRF token, compared in constant time ({@link csrfMatches}).
 * @module
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../deps.ts";
import type { Config } from "../config.ts";
import {
  type BrowserSession,
  createSession,
  deleteSession,
  findSession,
  SESSION_TTL_MS,
} from "../core/sessions.ts";
import { findUserById, type UserRow } from "../core/users.ts";
import { DEVICE_TTL_MS } from "../core/sign_in_devices.ts";
import { safeEqual } from "./passwords.ts";

export function sessionCookieName(config: Config): string {
  return config.publicUrl.startsWith("https:") ? "__Host-dmcp_session" : "dmcp_session";
}

export interface PageSession {
  session: BrowserSession;
  user: UserRow;
}

/** Start a session for the user and set the cookie. */
export async function startSession(c: Context<AppEnv>, userId: number): Promise<void> {
  const deps = c.get("deps");
  const { id } = await createSession(deps.db, userId);
  setCookie(c, sessionCookieName(deps.config), id, {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure: deps.config.publicUrl.startsWith("https:"),
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
}

/** The signed-in user of this request, or null. */
export async function currentSession(c: Context<AppEnv>): Promise<PageSession | null> {
  const deps = c.get("deps");
  const id = getCookie(c, sessionCookieName(deps.config));
  if (!id) return null;
  const session = await findSession(deps.db, id);
  if (!session) return null;
  const user = await findUserById(deps.db, session.userId);
  return user ? { session, user } : null;
}

/** Sign out: delete the session row and the cookie. */
export async function endSession(c: Context<AppEnv>): Promise<void> {
  const deps = c.get("deps");
  const name = sessionCookieName(deps.config);
  const id = getCookie(c, name);
  if (id) await deleteSession(deps.db, id);
  deleteCookie(c, name, { path: "/", secure: deps.config.publicUrl.startsWith("https:") });
}

/** The known-browser cookie (`core/sign_in_devices.ts`), named like the session cookie. */
export function deviceCookieName(config: Config): string {
  return config.publicUrl.startsWith("https:") ? "__Host-dmcp_device" : "dmcp_device";
}

/** The device token this browser sent, if any. */
export function readDeviceCookie(c: Context<AppEnv>): string | null {
  return getCookie(c, deviceCookieName(c.get("deps").config)) ?? null;
}

/** Set (or refresh) the device cookie after a successful sign-in. */
export function setDeviceCookie(c: Context<AppEnv>, token: string): void {
  const config = c.get("deps").config;
  setCookie(c, deviceCookieName(config), token, {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure: config.publicUrl.startsWith("https:"),
    maxAge: Math.floor(DEVICE_TTL_MS / 1000),
  });
}

/** Constant-time check of a submitted CSRF token against the session's. */
export function csrfMatches(session: BrowserSession, submitted: unknown): boolean {
  return typeof submitted === "string" && submitted.length > 0 &&
    safeEqual(submitted, session.csrf);
}
