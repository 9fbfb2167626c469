/** @jsxImportSource hono/jsx */
/**
 * The HTML shell of every page: escaped by default (hono/jsx), one `<style>` and the console
 * script carrying the response's CSP nonce (page_security.ts), the same navigation on every
 * page (nav.tsx: what the viewer may not use is not shown), and the shared pieces pages are
 * built from — cards, tables that say when they are empty and scroll inside their card, copy
 * buttons, status messages.
 *
 * Pages keep working without JavaScript: the script only adds copy buttons (hidden until it
 * runs) and draws charts whose numbers are also in the page as tables.
 * @module
 */
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { cspNonce } from "./page_security.ts";
import { loadPageSession, SiteHeader, SiteNav } from "./nav.tsx";
import { assetPath } from "./assets.ts";

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--accent:#0b5cd5;--accent-fg:#fff;--err:#c41d2a;--ok:#1a7f37;--warn:#9a6700;--border:#d1d9e0;--side:#eef1f4}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--accent:#4493f8;--accent-fg:#0d1117;--err:#ff7b72;--ok:#3fb950;--warn:#d29922;--border:#3d444d;--side:#10151c}}
*{box-sizing:border-box}html{font-size:15px}body{margin:0;font:1rem/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--fg)}
a{color:var(--accent)}.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;z-index:10;background:var(--card);padding:6px 10px}
.top{display:flex;align-items:center;gap:16px;padding:10px 20px;border-bottom:1px solid var(--border);background:var(--card);flex-wrap:wrap}
.brand{font-weight:700;color:var(--fg);text-decoration:none}.top .ws{color:var(--muted)}.top .spacer{flex:1}
.top form{display:inline;margin:0}.top button{margin:0;padding:4px 10px}
.shell{display:flex;align-items:flex-start;max-width:1280px;margin:0 auto}
.side{flex:0 0 200px;padding:20px 12px;position:sticky;top:0}
.side ul{list-style:none;margin:0;padding:0}.side li a{display:block;padding:6px 10px;border-radius:6px;color:var(--fg);text-decoration:none}
.side li a:hover{background:var(--side)}.side li a[aria-current=page]{background:var(--side);font-weight:600;color:var(--accent)}
.side .group{margin:14px 10px 4px;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
main{flex:1;min-width:0;padding:24px 20px 40px}main.narrow{max-width:640px;margin:32px auto}
@media (max-width:760px){.shell{display:block}.side{position:static;padding:8px 12px}.side ul{display:flex;flex-wrap:wrap;gap:4px}.side .group{display:none}}
.card{background:var(--card);border:1px solid var(--border);border-radius:10px;padding:20px 24px;margin-bottom:16px;min-width:0}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:20px 0 8px}.card>h2:first-child{margin-top:0}p{margin:8px 0}.muted{color:var(--muted)}
label{display:block;margin:12px 0 4px;font-weight:600}label.inline{display:inline-flex;align-items:center;gap:6px;font-weight:400;margin:8px 16px 0 0}
input:not([type]),input[type=text],input[type=email],input[type=password],input[type=url],input[type=number],input[type=search],input[type=datetime-local],input[type=date],input[type=file],select,textarea{width:100%;max-width:560px;padding:8px 10px;border:1px solid var(--border);border-radius:6px;background:var(--bg);color:var(--fg);font:inherit}
input[type=number]{max-width:160px}textarea{max-width:none}
input:focus-visible,select:focus-visible,textarea:focus-visible,button:focus-visible,a:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
fieldset{border:1px solid var(--border);border-radius:8px;padding:8px 14px;margin:12px 0}legend{font-weight:600;padding:0 4px}
button,.button{display:inline-block;margin-top:16px;padding:8px 16px;border:1px solid transparent;border-radius:6px;background:var(--accent);color:var(--accent-fg);font:inherit;font-weight:600;cursor:pointer;text-decoration:none;line-height:1.4}
button.secondary,.button.secondary{background:transparent;color:var(--fg);border-color:var(--border)}button.danger{background:var(--err);color:#fff}
button.small{margin:0;padding:3px 10px;font-size:13px}.actions{display:flex;flex-wrap:wrap;gap:12px;align-items:center}.actions button,.actions .button{margin-top:16px}
form.inline{display:inline-flex;gap:6px;align-items:center;margin:0}form.inline select,form.inline input{width:auto;padding:3px 6px}
.row-form{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-end}.row-form>div{flex:1 1 180px}.row-form label{margin-top:0}.row-form button{margin-top:0}
.error{color:var(--err);font-weight:600}.ok{color:var(--ok);font-weight:600}.warn{color:var(--warn);font-weight:600}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
pre{background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:10px;overflow:auto;white-space:pre-wrap;word-break:break-all;margin:6px 0}
.copyable{position:relative}.copyable button.copy{position:absolute;top:6px;right:6px;margin:0;padding:2px 8px;font-size:12px}
.table-wrap{overflow-x:auto;margin:8px 0;max-width:100%}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--border);vertical-align:top}th{font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.empty{color:var(--muted);font-style:italic;text-align:center;padding:14px}
td code{overflow-wrap:anywhere}td.args{min-width:180px}td.args code{display:block;max-width:280px;overflow-wrap:anywhere}td.wrap{overflow-wrap:anywhere}td.nowrap{white-space:nowrap}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
.badge{display:inline-block;padding:0 8px;border-radius:10px;border:1px solid var(--border);font-size:12px;color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:16px}
.board{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:12px}@media (max-width:900px){.board{grid-template-columns:1fr}}
.column{background:var(--bg);border:1px solid var(--border);border-radius:8px;padding:10px}.column h3{margin:0 0 8px;font-size:15px}
.task{background:var(--card);border:1px solid var(--border);border-radius:6px;padding:8px 10px;margin-bottom:8px}.task p{margin:0 0 6px;overflow-wrap:anywhere}
.task .meta{font-size:13px;color:var(--muted)}.task form{margin-top:6px}
figure{margin:0 0 16px}figcaption h2{margin-top:0}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;margin-bottom:16px}.charts>.card{margin:0}.chart{min-height:60px}
.bars svg{display:block;width:100%;height:auto}.bars text{fill:var(--fg);font-size:14px}.bars rect.bar{fill:var(--accent)}.bars rect.track{fill:var(--bg)}
.stats{display:flex;flex-wrap:wrap;gap:24px;margin:8px 0}.stats div{min-width:110px}.stats strong{display:block;font-size:20px}
.inline-label{display:inline;font-weight:400}.pre{white-space:pre-wrap;word-break:break-word;margin:6px 0}
`;

/** Page shell props. `nav` is kept for pages written before the automatic navigation. */
export interface LayoutProps {
  title: string;
  children: Child;
  /** Deprecated: the navigation is automatic (nav.tsx); shown only when there is none. */
  nav?: Child;
  /** A narrow, centred page without navigation (sign-in, setup, consent, invitations). */
  narrow?: boolean;
  /** Load the chart library (uPlot) for `data-chart` elements. */
  charts?: boolean;
}

export async function Layout(props: LayoutProps) {
  const nonce = cspNonce() ?? undefined;
  const signedIn = !!await loadPageSession();
  const narrow = props.narrow || !signedIn;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <link rel="icon" href="data:," />
        <title>{props.title} · dust-mcp</title>
        <style nonce={nonce} dangerouslySetInnerHTML={{ __html: CSS }} />
        {props.charts && nonce
          ? <link rel="stylesheet" href={assetPath("uplot.css")} nonce={nonce} />
          : null}
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <SiteHeader />
        <div class="shell">
          {narrow ? null : <SiteNav fallback={props.nav} />}
          <main id="main" class={narrow ? "narrow" : undefined}>
            {props.children}
          </main>
        </div>
        {nonce && props.charts
          ? <script src={assetPath("uplot.js")} nonce={nonce} defer></script>
          : null}
        {nonce ? <script src={assetPath("console.js")} nonce={nonce} defer></script> : null}
      </body>
    </html>
  );
}

/** A page with a single message card (errors, confirmations). */
export function MessagePage(props: { title: string; children: Child }) {
  return (
    <Layout title={props.title}>
      <div class="card">
        <h1>{props.title}</h1>
        {props.children}
      </div>
    </Layout>
  );
}

/** The answer to a form post whose CSRF token is missing or wrong: nothing was changed. */
export function formExpiredPage(c: Context): Response | Promise<Response> {
  return c.html(
    <MessagePage title="Form expired">
      <p>The security token is missing or wrong. Reload the page and try again.</p>
    </MessagePage>,
    403,
  );
}

/** The page for a refused action or an unknown page, with the status it answers. */
export function errorPage(
  c: Context,
  status: 403 | 404 | 400 | 410 | 409 | 429 | 500 | 503,
  title: string,
  message: string,
): Response | Promise<Response> {
  return c.html(
    <MessagePage title={title}>
      <p>{message}</p>
      <p>
        <a href="/">Back to the console</a>
      </p>
    </MessagePage>,
    status,
  );
}

/** A status line after an action: success or error, announced to screen readers. */
export function Flash(props: { message?: string | null; error?: string | null }) {
  return (
    <>
      {props.message ? <p class="ok" role="status">{props.message}</p> : null}
      {props.error ? <p class="error" role="alert">{props.error}</p> : null}
    </>
  );
}

/**
 * A table inside a scrolling wrapper (it never overflows its card), with a row saying so when
 * there are no rows. `head` are the column headers.
 */
export function Table(props: {
  head: (string | { label: string; num?: boolean })[];
  empty: string;
  children?: Child;
  rows: number;
  caption?: string;
  id?: string;
  /** What the table is, for screen readers (its scrolling region is focusable). */
  label?: string;
}) {
  return (
    <div
      class="table-wrap"
      tabindex={0}
      role="region"
      aria-label={props.label ?? props.caption ??
        props.head.map((h) => typeof h === "string" ? h : h.label).filter(Boolean).join(", ")}
    >
      <table id={props.id}>
        {props.caption ? <caption class="muted">{props.caption}</caption> : null}
        <thead>
          <tr>
            {props.head.map((h) =>
              typeof h === "string"
                ? <th key={h} scope="col">{h}</th>
                : <th key={h.label} scope="col" class={h.num ? "num" : undefined}>{h.label}</th>
            )}
          </tr>
        </thead>
        <tbody>
          {props.rows === 0
            ? (
              <tr>
                <td class="empty" colspan={props.head.length}>{props.empty}</td>
              </tr>
            )
            : props.children}
        </tbody>
      </table>
    </div>
  );
}

/**
 * A block of text to copy (a URL, a token, a config snippet) with a Copy button; the button
 * stays hidden when scripts do not run (the text can still be selected).
 */
export function Copyable(props: { id: string; text: string; label?: string }) {
  return (
    <div class="copyable">
      <pre id={props.id}>{props.text}</pre>
      <button
        type="button"
        class="copy secondary"
        data-copy={props.id}
        aria-label={props.label ?? "Copy to clipboard"}
        hidden
      >
        Copy
      </button>
    </div>
  );
}

/** The CSRF field every signed-in form carries. */
export function Csrf(props: { token: string }) {
  return <input type="hidden" name="csrf" value={props.token} />;
}

/** Epoch ms as a short UTC date-time ("never" for null). */
export function when(t: number | null | undefined): string {
  if (!t) return "never";
  return new Date(t).toISOString().replace("T", " ").replace(/:\d\d\.\d+Z$/, " UTC");
}
