/**
 * The doctor's discovery checks, one function per step: the public URL itself, the clock, the
 * 401 challenge on `/mcp`, protected-resource metadata, authorization-server metadata. Each
 * returns a {@link DoctorStep}: pass / warn / fail, why, and what to change.
 * @module
 */
import type { ClientProfile } from "./clients.ts";
import {
  call,
  type Exchange,
  type FetchLike,
  isPrivateHost,
  parseBearerChallenge,
  parseJson,
} from "./http.ts";

export type StepStatus = "pass" | "warn" | "fail" | "skip";

export interface DoctorStep {
  id: string;
  title: string;
  status: StepStatus;
  why: string;
  fix: string | null;
  ms: number | null;
}

export function step(
  id: string,
  title: string,
  status: StepStatus,
  why: string,
  fix: string | null = null,
  ms: number | null = null,
): DoctorStep {
  return { id, title, status, why, fix, ms };
}

/** Above this the clocks disagree enough to matter (access tokens allow 5 s). */
export const CLOCK_WARN_S = 5;
export const CLOCK_FAIL_S = 60;

/** Scheme, port and reachability of the URL the client is given. */
export function checkPublicUrl(url: string, client: ClientProfile): DoctorStep {
  const title = "Public URL";
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return step("public-url", title, "fail", `${url} is not a URL.`, "Set --public-url.");
  }
  const problems: string[] = [];
  if (client.hosted) {
    if (u.protocol !== "https:") problems.push(`${client.name} accepts only https URLs`);
    else if (u.port !== "") {
      problems.push(`${client.name} connects only on port 443, not ${u.port}`);
    }
    if (isPrivateHost(u.hostname)) {
      problems.push(`${u.hostname} is not reachable from the vendor's servers`);
    }
    if (problems.length) {
      return step(
        "public-url",
        title,
        "fail",
        `${url}: ${problems.join("; ")}.`,
        "Serve the server behind a TLS-terminating proxy on port 443 with a public host name " +
          "and set --public-url to that https URL (no port).",
      );
    }
  } else if (u.protocol === "http:" && !isPrivateHost(u.hostname)) {
    return step(
      "public-url",
      title,
      "warn",
      `${url} is plain http on a non-local host: tokens travel in clear text.`,
      "Put the server behind https.",
    );
  }
  return step("public-url", title, "pass", `${url} suits ${client.name}.`);
}

/** Compare the server's `Date` header with this machine's clock. */
export function checkClock(ex: Exchange): DoctorStep {
  const title = "Clock";
  const date = ex.headers.get("date");
  const server = date ? Date.parse(date) : NaN;
  if (Number.isNaN(server)) {
    return step("clock", title, "warn", "The response has no Date header to compare.", null);
  }
  // The Date header has 1 s resolution and was written during the round trip.
  const skewS = Math.round((server - ex.receivedAt) / 1000);
  const slack = Math.ceil(ex.ms / 1000) + 1;
  const off = Math.max(0, Math.abs(skewS) - slack);
  const why = `The server's clock is ${Math.abs(skewS)} s ${
    skewS >= 0 ? "ahead of" : "behind"
  } this machine's.`;
  const fix = "Synchronise both clocks with NTP (chrony or systemd-timesyncd); every instance " +
    "behind the public URL must agree, or tokens one issues are refused by another.";
  if (off > CLOCK_FAIL_S) return step("clock", title, "fail", why, fix);
  if (off > CLOCK_WARN_S) return step("clock", title, "warn", why, fix);
  return step("clock", title, "pass", `Clocks agree (${skewS} s).`);
}

/** The unauthenticated `initialize` on `/mcp` must be a 401 with a usable challenge. */
export async function checkChallenge(
  fetcher: FetchLike,
  base: string,
  issuer: string,
): Promise<{ step: DoctorStep; ex: Exchange | null; metadataUrl: string | null }> {
  let ex: Exchange;
  try {
    ex = await call(fetcher, `${base}/mcp`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: JSON.stringify(initializeMessage(1)),
    });
  } catch (e) {
    const s = challengeStep("fail", (e as Error).message, "Check DNS, TLS and the proxy.", null);
    return { step: s, ex: null, metadataUrl: null };
  }
  const params = ex.status === 401
    ? parseBearerChallenge(ex.headers.get("www-authenticate"))
    : null;
  const metadataUrl = params?.resource_metadata ?? null;
  return { step: diagnoseChallenge(ex, base, issuer, metadataUrl), ex, metadataUrl };
}

function challengeStep(
  status: StepStatus,
  why: string,
  fix: string | null,
  ms: number | null,
): DoctorStep {
  return step("challenge", "401 challenge on /mcp", status, why, fix, ms);
}

/** What the answer to the unauthenticated request says about the path to the server. */
function diagnoseChallenge(
  ex: Exchange,
  base: string,
  issuer: string,
  metadataUrl: string | null,
): DoctorStep {
  const hostRefusal = /Invalid Host(?: header)?: ([^"]+)/.exec(ex.text);
  if (ex.status === 403 && hostRefusal && hostRefusal[1] === new URL(base).hostname) {
    return challengeStep(
      "fail",
      `The server refuses the host ${hostRefusal[1]} the doctor connected to (it accepts ` +
        `${new URL(issuer).hostname}, the public URL's).`,
      `Run the doctor against the public URL (${issuer}).`,
      ex.ms,
    );
  }
  if (ex.status === 403 && hostRefusal) {
    return challengeStep(
      "fail",
      `The server saw Host "${hostRefusal[1]}", not ${new URL(issuer).host}: a proxy rewrites ` +
        "the Host header.",
      "Make the proxy pass the client's Host through (nginx: proxy_set_header Host $host; " +
        "Caddy and Traefik do by default), or set --public-url to the URL clients use.",
      ex.ms,
    );
  }
  if (ex.status !== 401) {
    return challengeStep(
      "fail",
      `POST /mcp without a token answered ${ex.status}, not 401: clients never start OAuth.`,
      ex.status === 404
        ? "Route /mcp (and /.well-known/*, /authorize, /token, /register) to the server."
        : "Make the proxy pass 401 responses and their WWW-Authenticate header unchanged.",
      ex.ms,
    );
  }
  if (!metadataUrl) {
    return challengeStep(
      "fail",
      "The 401 carries no WWW-Authenticate Bearer challenge with resource_metadata.",
      "Make the proxy pass the WWW-Authenticate header through.",
      ex.ms,
    );
  }
  const expected = `${issuer}/.well-known/oauth-protected-resource/mcp`;
  if (metadataUrl !== expected) {
    return challengeStep(
      "fail",
      `resource_metadata is ${metadataUrl}, expected ${expected}.`,
      "Set --public-url to the URL clients use.",
      ex.ms,
    );
  }
  return challengeStep("pass", `401 with resource_metadata=${metadataUrl}.`, null, ex.ms);
}

export function initializeMessage(id: number) {
  return {
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "dust-mcp-doctor", version: "1" },
    },
  };
}

/** The protected-resource metadata the client reads (the challenge's, plus its own habits). */
export async function checkProtectedResource(
  fetcher: FetchLike,
  base: string,
  issuer: string,
  client: ClientProfile,
  metadataUrl: string | null,
): Promise<DoctorStep> {
  const title = "Protected-resource metadata";
  const urls = [
    ...new Set([
      ...(metadataUrl ? [metadataUrl] : []),
      ...client.prmPaths.map((p) => `${base}${p}`),
    ]),
  ];
  const resource = `${issuer}/mcp`;
  let total = 0;
  for (const url of urls) {
    let ex: Exchange;
    try {
      ex = await call(fetcher, url);
    } catch (e) {
      return step(
        "prm",
        title,
        "fail",
        (e as Error).message,
        "Route /.well-known/* to the server.",
      );
    }
    total += ex.ms;
    const doc = ex.status === 200 ? parseJson(ex.text) : null;
    if (!doc) {
      return step(
        "prm",
        title,
        "fail",
        `${url} answered ${ex.status} without JSON metadata.`,
        "Route /.well-known/* to the server unchanged.",
        total,
      );
    }
    const servers = Array.isArray(doc.authorization_servers) ? doc.authorization_servers : [];
    if (doc.resource !== resource || servers[0] !== issuer) {
      return step(
        "prm",
        title,
        "fail",
        `${url} names resource ${doc.resource} and authorization server ${servers[0]}; ` +
          `${client.name} expects ${resource} and ${issuer}.`,
        "Set --public-url to the URL clients use (byte for byte: scheme, host, no trailing slash).",
        total,
      );
    }
  }
  return step("prm", title, "pass", `${urls.length} document(s) name ${resource}.`, null, total);
}

/** RFC 8414 metadata: issuer equality and what the client's registration choice depends on. */
export async function checkAuthorizationServer(
  fetcher: FetchLike,
  base: string,
  issuer: string,
  client: ClientProfile,
): Promise<{ step: DoctorStep; usesCimd: boolean }> {
  const title = "Authorization-server metadata";
  const url = `${base}/.well-known/oauth-authorization-server`;
  let ex: Exchange;
  try {
    ex = await call(fetcher, url);
  } catch (e) {
    return { step: step("as-metadata", title, "fail", (e as Error).message), usesCimd: false };
  }
  const doc = ex.status === 200 ? parseJson(ex.text) : null;
  if (!doc) {
    return {
      step: step(
        "as-metadata",
        title,
        "fail",
        `${url} answered ${ex.status}.`,
        "Route /.well-known/* to the server.",
        ex.ms,
      ),
      usesCimd: false,
    };
  }
  const methods = Array.isArray(doc.token_endpoint_auth_methods_supported)
    ? doc.token_endpoint_auth_methods_supported
    : [];
  const challenges = Array.isArray(doc.code_challenge_methods_supported)
    ? doc.code_challenge_methods_supported
    : [];
  const problems: string[] = [];
  if (doc.issuer !== issuer) problems.push(`issuer is ${doc.issuer}, not ${issuer}`);
  if (!challenges.includes("S256")) problems.push("S256 PKCE is not advertised");
  if (!doc.registration_endpoint && !client.cimdUrl) problems.push("no registration_endpoint");
  if (problems.length) {
    return {
      step: step(
        "as-metadata",
        title,
        "fail",
        `${problems.join("; ")}.`,
        "Set --public-url to the URL clients use.",
        ex.ms,
      ),
      usesCimd: false,
    };
  }
  const usesCimd = client.cimdUrl !== null && doc.client_id_metadata_document_supported === true &&
    methods.includes("none");
  return {
    step: step(
      "as-metadata",
      title,
      "pass",
      `issuer ${issuer}; ${client.name} will register by ${usesCimd ? "CIMD" : "DCR"}.`,
      null,
      ex.ms,
    ),
    usesCimd,
  };
}
