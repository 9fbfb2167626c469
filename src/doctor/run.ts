/**
 * The connection doctor (issue 16): for each chosen client, replay its discovery and
 * authorization path against the public URL over real HTTP — the 401 challenge, protected-
 * resource and authorization-server metadata, registration (DCR or CIMD), the authorization
 * request three ways, the token exchange by a simulated user, the first `tools/list` — and say
 * for each step pass / warn / fail, why, and what to change. The clock is compared once.
 * Whatever a run created is revoked or deleted at its end, and the doctor checks that its
 * access token no longer works. The CLI (`dust-mcp doctor`) and the admin console page
 * (`/w/{wId}/doctor`) both call {@link runDoctor}.
 * @module
 */
import type { Db } from "../db/db.ts";
import type { ClientProfile } from "./clients.ts";
import { call, type FetchLike } from "./http.ts";
import {
  checkAuthorizationServer,
  checkChallenge,
  checkClock,
  checkProtectedResource,
  checkPublicUrl,
  type DoctorStep,
  step,
} from "./steps.ts";
import {
  authorizeVariants,
  checkPolicy,
  consentAndExchange,
  firstToolsList,
  type FlowContext,
  registerClient,
} from "./flow.ts";
import { cleanUpDoctorRun, type DoctorLeftovers } from "../core/doctor_approval.ts";
import { getMcpSettings } from "../core/workspace_settings.ts";

export interface DoctorOptions {
  db: Db;
  /** The URL the doctor connects to (`--url`; the configured public URL by default). */
  url: string;
  /** The server's configured public URL: the issuer every document must name. */
  issuer: string;
  workspaceId: number;
  userId: number;
  clients: ClientProfile[];
  fetcher?: FetchLike;
}

export interface ClientReport {
  client: string;
  name: string;
  ok: boolean;
  steps: DoctorStep[];
}

export interface DoctorReport {
  url: string;
  issuer: string;
  at: number;
  ok: boolean;
  general: DoctorStep[];
  clients: ClientReport[];
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const fetcher = o.fetcher ?? ((url, init) => fetch(url, init));
  const base = o.url.replace(/\/+$/, "");
  const general: DoctorStep[] = [];
  if (base !== o.issuer) {
    general.push(step(
      "issuer",
      "Public URL setting",
      "fail",
      `Clients reach the server at ${base} but it names itself ${o.issuer} (--public-url): ` +
        "issuer, resource and token audience all differ from what clients expect.",
      `Set --public-url ${base}.`,
    ));
  }
  try {
    general.push(checkClock(await call(fetcher, `${base}/healthz`)));
  } catch (e) {
    general.push(
      step("clock", "Clock", "fail", (e as Error).message, "Check DNS, TLS and the proxy."),
    );
  }
  const clients: ClientReport[] = [];
  for (const client of o.clients) {
    const steps = await runClient(o, fetcher, base, client);
    clients.push({
      client: client.id,
      name: client.name,
      ok: !steps.some((s) => s.status === "fail"),
      steps,
    });
  }
  const ok = !general.some((s) => s.status === "fail") && clients.every((c) => c.ok);
  return { url: base, issuer: o.issuer, at: Date.now(), ok, general, clients };
}

async function runClient(
  o: DoctorOptions,
  fetcher: FetchLike,
  base: string,
  client: ClientProfile,
): Promise<DoctorStep[]> {
  const steps: DoctorStep[] = [checkPublicUrl(base, client)];
  const challenge = await checkChallenge(fetcher, base, o.issuer);
  steps.push(challenge.step);
  steps.push(await checkProtectedResource(fetcher, base, o.issuer, client, challenge.metadataUrl));
  const as = await checkAuthorizationServer(fetcher, base, o.issuer, client);
  steps.push(as.step);
  const workspace = await getMcpSettings(o.db, o.workspaceId);
  const left: DoctorLeftovers = {
    dcrClientIds: [],
    grantSIds: [],
    requestIds: [],
    userId: o.userId,
  };
  const f: FlowContext = {
    fetcher,
    base,
    issuer: o.issuer,
    db: o.db,
    workspace,
    userId: o.userId,
    client,
    left,
    settingsPath: `${o.issuer}/w/${workspace.sId}/settings`,
  };
  let token: string | null = null;
  try {
    token = await runFlow(f, as.usesCimd, steps);
  } finally {
    steps.push(await cleanUp(f, token));
  }
  return steps;
}

/** Registration to tools/list; returns the access token (for the cleanup check). */
async function runFlow(
  f: FlowContext,
  usesCimd: boolean,
  steps: DoctorStep[],
): Promise<string | null> {
  const reg = await registerClient(f, usesCimd);
  steps.push(reg.step);
  steps.push(
    checkPolicy(
      f,
      reg.redirectUris.length ? reg.redirectUris : f.client.dcrBody.redirect_uris as string[],
    ),
  );
  if (!reg.clientId) return skipRest(steps, "no client registration");
  const auth = await authorizeVariants(f, reg.clientId);
  steps.push(...auth.steps);
  if (!auth.requestId) return skipRest(steps, "the client's authorization request failed");
  const exchange = await consentAndExchange(f, reg.clientId, auth.requestId, auth.verifier);
  steps.push(...exchange.steps);
  if (!exchange.accessToken) return skipRest(steps, "no access token", ["tools-list"]);
  steps.push(await firstToolsList(f, exchange.accessToken));
  return exchange.accessToken;
}

function skipRest(
  steps: DoctorStep[],
  why: string,
  ids = ["consent", "token", "tools-list"],
): null {
  const titles: Record<string, string> = {
    consent: "Consent by a simulated user",
    token: "Token exchange",
    "tools-list": "First tools/list",
  };
  for (const id of ids) {
    if (!steps.some((s) => s.id === id)) {
      steps.push(step(id, titles[id], "skip", `Skipped: ${why}.`));
    }
  }
  return null;
}

/** Revoke, delete, close; then prove the access token is dead. */
async function cleanUp(f: FlowContext, token: string | null): Promise<DoctorStep> {
  const title = "Clean-up";
  await cleanUpDoctorRun(f.db, f.left);
  if (!token) {
    return step("cleanup", title, "pass", "Nothing usable was issued; registrations deleted.");
  }
  const ex = await call(f.fetcher, `${f.base}/mcp`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      Authorization: `Bearer ${token}`,
    },
    body: "{}",
  }).catch(() => null);
  if (ex && ex.status === 401) {
    return step(
      "cleanup",
      title,
      "pass",
      "Grant revoked and registration deleted; the access token is refused (401).",
    );
  }
  return step(
    "cleanup",
    title,
    "warn",
    `The revoked access token was answered ${ex?.status ?? "nothing"}.`,
    "Revoke the doctor's grant on the connected-access page.",
  );
}
