/**
 * `POST /register`: Dynamic Client Registration (RFC 7591; checklist D1–D6). Public and
 * confidential clients; private-use redirect schemes accepted, script and local schemes
 * refused; registrations rate-limited per client address (IPv6 per /64).
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { OAuthError } from "../core/oauth_error.ts";
import { type ClientMetadataInput, registerDynamicClient } from "../core/oauth_clients.ts";
import { addressBucket, clientAddress, WindowLimiter } from "../auth/rate_limit.ts";
import { oauthCors } from "./metadata.ts";
import { onOAuthJsonError } from "./errors.ts";
import { traceUri } from "../core/oauth_traces.ts";
import type { OAuthTracer, TraceNote } from "./trace.ts";

/** 30 registrations per IP per 15 minutes: Claude registers once per connection. */
export const REGISTRATION_LIMIT = { count: 30, windowMs: 15 * 60_000 };

export function registerRoutes(tracer: OAuthTracer): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limiter = new WindowLimiter(REGISTRATION_LIMIT.count, REGISTRATION_LIMIT.windowMs);
  app.use("/register", oauthCors);
  app.onError(onOAuthJsonError);
  app.post("/register", (c) =>
    tracer.run("register", async (note) => {
      // Behind a proxy, `--client-ip-header` names the client; an IPv6 client counts by its /64.
      const ip = addressBucket(clientAddress(c));
      const wait = limiter.retryAfter(ip);
      if (wait > 0) {
        throw new OAuthError(
          "temporarily_unavailable",
          "Too many client registrations from this address; try again later.",
          429,
          { "Retry-After": String(wait) },
        );
      }
      if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
        throw new OAuthError("invalid_client_metadata", "The body must be application/json.");
      }
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new OAuthError("invalid_client_metadata", "The body is not valid JSON.");
      }
      if (!body || typeof body !== "object" || Array.isArray(body)) {
        throw new OAuthError("invalid_client_metadata", "The body must be a JSON object.");
      }
      noteRegistrationBody(note, body as Record<string, unknown>);
      limiter.hit(ip);
      const { client, secret } = await registerDynamicClient(
        c.get("deps").db,
        body as ClientMetadataInput,
      );
      const input = body as Record<string, unknown>;
      note.clientId = client.clientId;
      note.clientKind = "dcr";
      note.clientName = client.name;
      c.header("Cache-Control", "no-store");
      return c.json({
        client_id: client.clientId,
        client_id_issued_at: Math.floor(client.createdAt / 1000),
        ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
        client_name: client.name,
        redirect_uris: client.redirectUris,
        grant_types: client.grantTypes,
        response_types: ["code"],
        token_endpoint_auth_method: client.authMethod,
        ...(client.applicationType ? { application_type: client.applicationType } : {}),
        ...(client.clientUri ? { client_uri: client.clientUri } : {}),
        ...(client.logoUri ? { logo_uri: client.logoUri } : {}),
        ...(typeof input.software_id === "string" ? { software_id: input.software_id } : {}),
        ...(typeof input.software_version === "string"
          ? { software_version: input.software_version }
          : {}),
      }, 201);
    }, c.req.header("user-agent")));
  return app;
}

/** What the trace keeps of a registration body: the name and the redirect URIs (no query). */
function noteRegistrationBody(note: TraceNote, body: Record<string, unknown>): void {
  if (typeof body.client_name === "string") note.clientName = body.client_name;
  if (Array.isArray(body.redirect_uris)) {
    const uris = body.redirect_uris.slice(0, 5).map((u) => traceUri(String(u)));
    note.detail = `redirect_uris: ${uris.join(" ")}`;
  }
}
