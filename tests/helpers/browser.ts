/**
 * `Browser`: a real headless chromium for the console's tests, in a child process
 * (tests/helpers/browser_driver.ts) spoken to one JSON line at a time. Bounded: every command
 * times out (a stuck page fails the test instead of hanging it), and `close()` ends the
 * process. Sign-in can be skipped with a session made in the database (`signInAs`).
 *
 * ```ts
 * await using b = await Browser.start();
 * await b.signInAs(server, userId);
 * const r = await b.goto(`${server.url}/w/${wId}/members`);
 * assert.deepEqual(await b.axe(), []);
 * ```
 */
import { createSession } from "../../src/core/sessions.ts";
import { sessionCookieName } from "../../src/auth/sessions.ts";
import type { ServerHandle } from "../../src/server.ts";

/** Longest a single browser command may take. */
const COMMAND_TIMEOUT_MS = 90_000;

export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

export class Browser implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  #closed = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
  }

  static start(): Promise<Browser> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./browser_driver.ts", import.meta.url).pathname],
      cwd: new URL("../../", import.meta.url).pathname,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    return Promise.resolve(new Browser(child));
  }

  async send<T = unknown>(cmd: Record<string, unknown>): Promise<T> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`browser: ${cmd.op} took over ${COMMAND_TIMEOUT_MS} ms`)),
        COMMAND_TIMEOUT_MS,
      );
    });
    try {
      const next = await Promise.race([this.#lines.next(), timeout]);
      if (next.done) throw new Error("browser: the driver process ended");
      const answer = JSON.parse(next.value) as { ok: boolean; value?: T; error?: string };
      if (!answer.ok) throw new Error(`browser ${cmd.op}: ${answer.error}`);
      return answer.value as T;
    } finally {
      clearTimeout(timer);
    }
  }

  goto(url: string) {
    return this.send<{ status: number; url: string; title: string }>({ op: "goto", url });
  }
  click(selector: string, navigate = true) {
    return this.send<{ status: number; url: string; title: string }>({
      op: "click",
      selector,
      navigate,
    });
  }
  fill(selector: string, value: string) {
    return this.send({ op: "fill", selector, value });
  }
  select(selector: string, value: string) {
    return this.send({ op: "select", selector, value });
  }
  text(selector: string) {
    return this.send<string | null>({ op: "text", selector });
  }
  texts(selector: string) {
    return this.send<string[]>({ op: "texts", selector });
  }
  count(selector: string) {
    return this.send<number>({ op: "count", selector });
  }
  eval<T = unknown>(expression: string) {
    return this.send<T>({ op: "eval", expression });
  }
  /** CSP violations and console errors of the current page. */
  csp() {
    return this.send<{ violations: string[]; consoleErrors: string[] }>({ op: "csp" });
  }
  /** axe-core's serious and critical violations on the current page. */
  axe() {
    return this.send<AxeViolation[]>({ op: "axe" });
  }
  screenshot(path: string, options: { fullPage?: boolean; width?: number; height?: number } = {}) {
    return this.send({ op: "screenshot", path, ...options });
  }

  /** A browser session for `userId` made in the database (no password hashing). */
  async signInAs(server: Pick<ServerHandle, "deps" | "url">, userId: number): Promise<void> {
    await this.send({ op: "clearCookies" });
    const { id } = await createSession(server.deps.db, userId);
    await this.send({
      op: "cookie",
      url: server.url,
      name: sessionCookieName(server.deps.config),
      value: id,
    });
  }

  signOut() {
    return this.send({ op: "clearCookies" });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.send({ op: "close" }).catch(() => {});
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 15_000);
    await this.#child.status;
    clearTimeout(timer);
    // Drain whatever stdout is left so the stream resource closes.
    await this.#lines.return?.();
  }

  [Symbol.asyncDispose]() {
    return this.close();
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}
