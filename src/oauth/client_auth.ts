/**
 * Finding and authenticating OAuth clients at the token and revocation endpoints (E2, G4):
 * the registered method is enforced exactly (`none`, `client_secret_basic`,
 * `client_secret_post`), secrets are compared in constant time against their hash, and a
 * failure is 401 `invalid_client`, with `WWW-Authenticate: Basic` when Basic was attempted.
 * @module
 */
import type { Db } from "../db/db.ts";
import { OAuthError } from "../core/oauth_error.ts";
import { clientSecretMatches, findClient, type OAuthClient } from "../core/oauth_clients.ts";
import { type CimdResolver, isCimdClientId } from "./cimd.ts";

/**
 * Resolve any client_id: CIMD URLs through the resolver (fetches budgeted per `requester`, the
 * peer address of the request), others from the database.
 */
export async function resolveClient(
  db: Db,
  cimd: CimdResolver,
  clientId: string,
  requester: string,
): Promise<OAuthClient | null> {
  if (isCimdClientId(clientId)) return await cimd.resolve(clientId, requester);
  if (clientId.length > 256) return null;
  return await findClient(db, clientId);
}

function parseBasic(header: string | undefined): { id: string; secret: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return null;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(m[1]), (ch) => ch.charCodeAt(0)),
    );
  } catch {
    return null;
  }
  const i = decoded.indexOf(":");
  if (i < 0) return null;
  // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
  const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
  try {
    return { id: unform(decoded.slice(0, i)), secret: unform(decoded.slice(i + 1)) };
  } catch {
    return null;
  }
}

const field = (form: Record<string, unknown>, k: string): string | null =>
  typeof form[k] === "string" ? form[k] as string : null;

/**
 * Authenticate the calling client; throws OAuthError(invalid_client, 401) on failure, or the
 * CIMD budget's 429 (not the client's fault: it must not make the client re-register).
 */
export async function authenticateClient(
  db: Db,
  cimd: CimdResolver,
  authorization: string | undefined,
  form: Record<string, unknown>,
  requester: string,
): Promise<OAuthClient> {
  const basicAttempted = /^Basic\s/i.test(authorization ?? "");
  const challenge: Record<string, string> = basicAttempted
    ? { "WWW-Authenticate": 'Basic realm="dust-mcp"' }
    : {};
  const fail = (why: string) => new OAuthError("invalid_client", why, 401, challenge);
  const basic = parseBasic(authorization);
  if (basicAttempted && !basic) throw fail("The Basic authorization header is malformed.");
  const bodyId = field(form, "client_id");
  const bodySecret = field(form, "client_secret");
  if (basic && bodyId !== null && bodyId !== basic.id) {
    throw fail("client_id in the body differs from the Basic credentials.");
  }
  const clientId = basic?.id ?? bodyId;
  if (!clientId) throw fail("Client authentication is required (client_id).");
  let client: OAuthClient | null;
  try {
    client = await resolveClient(db, cimd, clientId, requester);
  } catch (e) {
    if (e instanceof OAuthError && e.status === 429) throw e;
    if (e instanceof OAuthError) throw fail(e.description);
    throw e;
  }
  if (!client) throw fail("Unknown client; register again.");
  const m = client.authMethod;
  if (m === "none") {
    if (basic || bodySecret) throw fail("This client is registered as a public client (none).");
    return client;
  }
  const viaBasic = basic !== null && (m === "client_secret_basic" || client.methodDefaulted);
  const viaPost = !basic && bodySecret !== null &&
    (m === "client_secret_post" || client.methodDefaulted);
  const secret = viaBasic ? basic!.secret : viaPost ? bodySecret! : null;
  if (secret === null) throw fail(`This client must authenticate with ${m}.`);
  if (!clientSecretMatches(client, secret)) throw fail("Client authentication failed.");
  return client;
}
