/**
 * A local HTTP server that plays the web hosts of CIMD clients, and the CIMD test hook that
 * maps `https://client.example.com/...` (and a few other names) to it. Name resolution is faked
 * per host so the server's SSRF address check runs on realistic answers:
 * `client.example.com` → a public address, `private.example.com` → 10.0.0.5.
 */
import type { CimdHooks } from "../../src/oauth/cimd.ts";

export type Route = (req: Request) => Response | Promise<Response>;

export interface CimdFixture extends AsyncDisposable {
  base: string;
  routes: Map<string, Route>;
  hits: Map<string, number>;
  hooks: CimdHooks;
  /** Serve `doc` as JSON at `path` with optional headers. */
  serveJson(path: string, doc: unknown, headers?: Record<string, string>): void;
}

export const PUBLIC_HOST = "client.example.com";
export const PRIVATE_HOST = "private.example.com";

export function startCimdFixture(): CimdFixture {
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    return route ? route(req) : new Response("not found", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const hooks: CimdHooks = {
    resolveHost: (host) =>
      Promise.resolve(
        host === PUBLIC_HOST ? ["93.184.216.34"] : host === PRIVATE_HOST ? ["10.0.0.5"] : [],
      ),
    fetch: (url, init) => {
      const u = new URL(url);
      return fetch(`${base}${u.pathname}${u.search}`, init);
    },
  };
  return {
    base,
    routes,
    hits,
    hooks,
    serveJson(path, doc, headers = {}) {
      routes.set(path, () =>
        new Response(JSON.stringify(doc), {
          headers: { "content-type": "application/json", ...headers },
        }));
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A document for `https://client.example.com<path>`. */
export function cimdDoc(path: string, extra: Record<string, unknown> = {}) {
  return {
    client_id: `https://${PUBLIC_HOST}${path}`,
    client_name: "Fixture Client",
    redirect_uris: ["http://127.0.0.1:53682/callback"],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    ...extra,
  };
}
