/**
 * The test side of tests/helpers/console_chromium.ts: starts the driver process, sends one
 * command at a time and reads its answer; `await using` quits the browser.
 *
 * ```ts
 * await using b = await ConsoleBrowser.start();
 * const p = await b.open(server, member);          // a context with the member's session
 * await b.goto(p, `/w/${wId}/knowledge`);
 * assert.deepEqual((await b.axe(p)).violations, []);
 * ```
 */
import type { Command } from "./console_chromium.ts";
import type { TestServer } from "./server.ts";
import { sessionCookieName } from "../../src/auth/sessions.ts";

export interface AxeResult {
  violations: { id: string; impact: string; help: string; targets: string[] }[];
  minor: string[];
}

export interface PageState {
  url: string;
  status: number | null;
  text: string;
  problems: string[];
}

export class ConsoleBrowser implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(child.stderr).text();
  }

  static start(): Promise<ConsoleBrowser> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./console_chromium.ts", import.meta.url).pathname],
      cwd: new URL("../../", import.meta.url).pathname,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return Promise.resolve(new ConsoleBrowser(child));
  }

  async send<T = Record<string, unknown>>(cmd: Command): Promise<T> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        const answer = JSON.parse(line) as { ok: boolean; value?: T; error?: string };
        if (!answer.ok) throw new Error(`chromium ${cmd.op}: ${answer.error}`);
        return answer.value as T;
      }
      const r = await this.#reader.read();
      if (r.done) throw new Error(`chromium driver exited: ${await this.#stderr}`);
      this.#buffer += r.value;
    }
  }

  /** A new browser context, signed in as `member` when given (its session cookie). */
  async open(
    server: TestServer,
    member: { browser: { cookies: Map<string, string> } } | null,
    options: { javaScript?: boolean } = {},
  ): Promise<number> {
    const name = sessionCookieName(server.config);
    const value = member?.browser.cookies.get(name);
    const cookies = value ? [{ name, value, url: server.url }] : [];
    return (await this.send<{ page: number }>({ op: "open", cookies, ...options })).page;
  }

  goto(page: number, url: string) {
    return this.send<{ status: number | null; url: string }>({ op: "goto", page, url });
  }
  axe(page: number) {
    return this.send<AxeResult>({ op: "axe", page });
  }
  state(page: number) {
    return this.send<PageState>({ op: "state", page });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.send({ op: "quit" });
    } catch { /* already gone */ }
    await this.#writer.close().catch(() => {});
    await this.#reader.cancel().catch(() => {});
    await this.#child.status;
    await this.#stderr.catch(() => "");
  }
}
