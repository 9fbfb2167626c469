// The peer baseline of bench/mcp.ts: the MCP TypeScript SDK's own minimal stateless server
// as its docs show it — Node 20 + Express + express.json(), a new McpServer and a new
// StreamableHTTPServerTransport per request (JSON responses) — plus a static bearer check
// (cheaper than any real token verification, so the comparison favours the peer). It serves
// the same `identity` payload shape as dust-mcp. Prints "listening <port>" when ready.
import express from "express";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

const token = process.env.PEER_TOKEN ?? "peer-token";
const identity = { id: "peerUser01", name: "Peer", workspaceId: "peerWs0001", workspaceName: "Peer" };

function buildServer() {
  const server = new McpServer({ name: "peer", version: "1.0.0" });
  server.registerTool("identity", { description: "Identify the user", inputSchema: {} }, () => ({
    content: [{ type: "text", text: JSON.stringify(identity) }],
  }));
  return server;
}

const app = express();
app.use(express.json());
app.post("/mcp", async (req, res) => {
  if (req.headers.authorization !== `Bearer ${token}`) {
    res.status(401).json({ error: "invalid_token" });
    return;
  }
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  res.on("close", () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
const listener = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening ${listener.address().port}`);
});
process.on("SIGTERM", () => listener.close(() => process.exit(0)));
