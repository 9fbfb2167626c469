/**
 * A model server that speaks OpenAI chat completions on 127.0.0.1 and follows a script: each
 * request gets the next scripted turn, streamed as SSE (`data: {choices:[{delta:{…}}]}` …
 * `data: [DONE]`) when the request asks for `stream: true`, else one JSON completion.
 *
 * ```ts
 * await using model = await startFakeModel([
 *   { toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "door" } }] },
 *   (req) => ({ content: `The secret is ${lastToolResult(req)}` }),
 * ]);
 * await startTestServer({ flags: model.flags });
 * ```
 */

export interface ScriptedTurn {
  content?: string;
  toolCalls?: { name: string; arguments: Record<string, unknown> | string; id?: string }[];
  /** Never answer (until the client goes away): for cancel and shutdown tests. */
  hang?: boolean;
  /** Stream `content` as tokens, then never finish (a run killed mid-answer). */
  hangAfterContent?: boolean;
  /** Answer with this HTTP status and an OpenAI error body instead. */
  errorStatus?: number;
  /**
   * Streamed answers only: send the first half of the text, then wait for this promise before
   * the rest (a test sees the answer mid-stream, without timing assumptions).
   */
  holdSecondHalf?: Promise<unknown>;
}

// deno-lint-ignore no-explicit-any
export type ChatRequest = { model: string; stream?: boolean; messages: any[]; tools?: any[] };
export type ScriptStep = ScriptedTurn | ((req: ChatRequest) => ScriptedTurn);

export interface FakeModel extends AsyncDisposable {
  baseUrl: string;
  /** Flags for `startTestServer({ flags })`. */
  flags: Record<string, string>;
  /** Every request body received, in order. */
  requests: ChatRequest[];
  /** Resolves when `n` requests have arrived. */
  waitForRequests(n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** The content of the last `tool` message of a request (what the tool returned). */
export function lastToolResult(req: ChatRequest): string {
  const tools = req.messages.filter((m) => m.role === "tool");
  return tools.length ? String(tools[tools.length - 1].content) : "";
}

/** The system prompt of a request. */
export function systemPrompt(req: ChatRequest): string {
  return String(req.messages.find((m) => m.role === "system")?.content ?? "");
}

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  const body = {
    id: "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: "fake",
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

function toolCallsOf(turn: ScriptedTurn) {
  return (turn.toolCalls ?? []).map((c, i) => ({
    id: c.id ?? `call_${i}_${crypto.randomUUID().slice(0, 8)}`,
    type: "function",
    function: {
      name: c.name,
      arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments),
    },
  }));
}

/** SSE body: the text in two deltas (so streaming is visible), tool calls split in two. */
function streamBody(turn: ScriptedTurn): string {
  let out = chunk({ role: "assistant", content: "" });
  const text = turn.content ?? "";
  const half = Math.ceil(text.length / 2);
  for (const part of [text.slice(0, half), text.slice(half)]) {
    if (part) out += chunk({ content: part });
  }
  toolCallsOf(turn).forEach((c, index) => {
    const args = c.function.arguments;
    const cut = Math.floor(args.length / 2);
    out += chunk({
      tool_calls: [{
        index,
        id: c.id,
        type: "function",
        function: { name: c.function.name, arguments: args.slice(0, cut) },
      }],
    });
    out += chunk({ tool_calls: [{ index, function: { arguments: args.slice(cut) } }] });
  });
  out += chunk({}, turn.toolCalls?.length ? "tool_calls" : "stop");
  return out + "data: [DONE]\n\n";
}

/** The streamed answer of a text-only turn, its second half sent once `hold` settles. */
function heldStream(turn: ScriptedTurn, hold: Promise<unknown>): ReadableStream<Uint8Array> {
  const text = turn.content ?? "";
  const half = Math.ceil(text.length / 2);
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(
        enc.encode(
          chunk({ role: "assistant", content: "" }) + chunk({ content: text.slice(0, half) }),
        ),
      );
      await hold.catch(() => {});
      try {
        c.enqueue(
          enc.encode(chunk({ content: text.slice(half) }) + chunk({}, "stop") + "data: [DONE]\n\n"),
        );
        c.close();
      } catch { /* the client went away */ }
    },
  });
}

function jsonBody(turn: ScriptedTurn) {
  const calls = toolCallsOf(turn);
  return {
    id: "chatcmpl-fake",
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: "fake",
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: turn.content ?? null,
        ...(calls.length ? { tool_calls: calls } : {}),
      },
      finish_reason: calls.length ? "tool_calls" : "stop",
    }],
  };
}

/** Start the fake model; it answers the script in order, then repeats the last step. */
export function startFakeModel(script: ScriptStep[]): Promise<FakeModel> {
  const requests: ChatRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const hung = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (!new URL(req.url).pathname.endsWith("/chat/completions")) {
      return new Response("not found", { status: 404 });
    }
    const body = await req.json() as ChatRequest;
    requests.push(body);
    for (const w of [...waiters]) if (requests.length >= w.n) w.resolve();
    const step = script[Math.min(requests.length - 1, script.length - 1)];
    const turn = typeof step === "function" ? step(body) : step;
    if (turn.errorStatus) {
      return Response.json({ error: { message: "scripted failure", type: "server_error" } }, {
        status: turn.errorStatus,
      });
    }
    if (turn.hangAfterContent && body.stream) {
      const head = chunk({ role: "assistant", content: "" }) +
        (turn.content ?? "").split(" ").map((w) => chunk({ content: `${w} ` })).join("");
      return new Response(
        new ReadableStream<Uint8Array>({
          start: (c) => {
            c.enqueue(new TextEncoder().encode(head));
            hung.add(c);
          },
          cancel: () => {},
        }),
        { headers: { "Content-Type": "text/event-stream" } },
      );
    }
    if (turn.hang) {
      return new Response(
        new ReadableStream<Uint8Array>({
          start: (c) => void hung.add(c),
          cancel: () => {},
        }),
        { headers: { "Content-Type": "text/event-stream" } },
      );
    }
    if (body.stream && turn.holdSecondHalf) {
      return new Response(heldStream(turn, turn.holdSecondHalf), {
        headers: { "Content-Type": "text/event-stream" },
      });
    }
    if (body.stream) {
      return new Response(streamBody(turn), { headers: { "Content-Type": "text/event-stream" } });
    }
    return Response.json(jsonBody(turn));
  });
  const port = server.addr.port;
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  const close = async () => {
    for (const c of hung) {
      try {
        c.close();
      } catch { /* the client already went away */ }
    }
    await server.shutdown();
  };
  return Promise.resolve({
    baseUrl,
    flags: { "model-base-url": baseUrl, model: "fake-model", "model-api-key": "sk-fake" },
    requests,
    waitForRequests: (n, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (requests.length >= n) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`model got ${requests.length}/${n} requests`)),
          ms,
        );
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      }),
    close,
    [Symbol.asyncDispose]: close,
  });
}
