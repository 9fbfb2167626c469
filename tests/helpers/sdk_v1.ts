/**
 * Typed re-exports of the MCP SDK v1 client modules. Deno types
 * `@modelcontextprotocol/sdk/client/*.js` as `any` (the package's "./*" types map to a missing
 * `*.js.d.ts`), so values come from the `.js` path and types from the extensionless one.
 */
import * as shttp from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type * as shttpT from "@modelcontextprotocol/sdk/client/streamableHttp";
import * as authM from "@modelcontextprotocol/sdk/client/auth.js";
import type * as authT from "@modelcontextprotocol/sdk/client/auth";
export { Client } from "@modelcontextprotocol/sdk/client";

export const StreamableHTTPClientTransport =
  (shttp as unknown as typeof shttpT).StreamableHTTPClientTransport;
export type StreamableHTTPClientTransport = shttpT.StreamableHTTPClientTransport;
export const { auth, UnauthorizedError } = authM as unknown as typeof authT;
export type OAuthClientProvider = authT.OAuthClientProvider;
