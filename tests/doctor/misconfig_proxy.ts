/**
 * A tiny loopback reverse proxy that misbehaves the way real ones do, for the doctor's tests:
 * it can drop the `Authorization` header, rewrite `Host` to an internal name, or shift the
 * `Date` header (a server whose clock is off). Built on `node:http` so the `Host` it sends is
 * exactly the one chosen. The upstream port is set after the server starts (the server's public
 * URL must name the proxy).
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface ProxyOptions {
  dropAuthorization?: boolean;
  host?: string;
  dateShiftMs?: number;
}

export interface MisconfigProxy extends AsyncDisposable {
  url: string;
  upstreamPort: number;
  /** Requests that arrived with an Authorization header (before any was dropped). */
  authorizationSeen: number;
}

export function startMisconfigProxy(options: ProxyOptions): Promise<MisconfigProxy> {
  const sockets = new Set<Socket>();
  const state = { upstreamPort: 0, authorizationSeen: 0 };
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers };
    if (headers.authorization) state.authorizationSeen++;
    if (options.dropAuthorization) delete headers.authorization;
    if (options.host) headers.host = options.host;
    const up = http.request({
      host: "127.0.0.1",
      port: state.upstreamPort,
      method: req.method,
      path: req.url,
      headers,
    }, (upRes) => {
      const out = { ...upRes.headers };
      if (options.dateShiftMs && out.date) {
        out.date = new Date(Date.parse(out.date) + options.dateShiftMs).toUTCString();
      }
      res.writeHead(upRes.statusCode ?? 502, out);
      upRes.pipe(res);
    });
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      const close = () =>
        new Promise<void>((done) => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        });
      resolve({
        url: `http://127.0.0.1:${port}`,
        get upstreamPort() {
          return state.upstreamPort;
        },
        set upstreamPort(p: number) {
          state.upstreamPort = p;
        },
        get authorizationSeen() {
          return state.authorizationSeen;
        },
        [Symbol.asyncDispose]: close,
      });
    });
  });
}
