/**
 * `POST data_sources/{dsId}/tokenize` (`@dust-tt/client` `tokenize`): `{ text }` →
 * `{ tokens: [[id, text], …], tokenizer }` with OpenAI's cl100k_base encoding.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { TOKENIZE_MAX_CHARS, tokenizeForDataSource } from "../core/tokenize.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson } from "./validate.ts";

const TokenizeBody = z.object({ text: z.string().max(TOKENIZE_MAX_CHARS) });

/** Mounted at `/api/v1/w/:wId`. */
export function tokenizeRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  documentRoute({
    method: "post",
    path: "/api/v1/w/:wId/data_sources/:dsId/tokenize",
    summary: "Cut a text into tokens as a data source's embedder does (cl100k_base)",
    description: "Any data source the caller reads. Each token is [id, text]; a character " +
      "split over several tokens shows as U+FFFD in each. `tokenizer` names the encoding.",
    tags: ["Data sources"],
    body: TokenizeBody,
    response: z.object({
      tokens: z.array(z.tuple([z.number(), z.string()])),
      tokenizer: z.literal("cl100k_base"),
    }),
  });
  app.post("/data_sources/:dsId/tokenize", async (c) => {
    const b = await parseJson(c, TokenizeBody);
    const input = { dataSourceId: c.req.param("dsId"), text: b.text };
    return c.json(await tokenizeForDataSource(c.var.deps, getActor(c), input));
  });
  return app;
}
