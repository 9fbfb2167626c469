/**
 * A loopback reverse proxy that adds `Authorization: Bearer <token>` to every request it
 * forwards, the way an API gateway attaches a credential. The official conformance suite's
 * server mode cannot send a header, and some of its scenarios drop the URL's query string (so
 * `?token=` does not reach us either); in front of the test server it authenticates them all.
 *
 * Built on `node:http` on both sides because Deno's `fetch` replaces a `Host` header, and the
 * suite's DNS-rebinding scenario must reach the server with the `Host` and `Origin` it sent.
 * Bodies stream both ways (SSE responses included); a client that goes away aborts the
 * upstream request.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface AuthProxy extends AsyncDisposable {
  /** `http://localhost:<port>` */
  url: string;
  close(): Promise<void>;
}

export function startAuthProxy(upstreamPort: number, token: string): Promise<AuthProxy> {
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers };
    if (!headers.authorization) headers.authorization = `Bearer ${token}`;
    const up = http.request({
      host: "127.0.0.1",
      port: upstreamPort,
      method: req.method,
      path: req.url,
      headers,
    }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
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
      resolve({ url: `http://localhost:${port}`, close, [Symbol.asyncDispose]: close });
    });
  });
}
