/** @jsxImportSource hono/jsx */
/**
 * The HTML shell of every page: escaped by default (hono/jsx), inline CSS, no scripts.
 * @module
 */
import type { Context } from "hono";
import type { Child } from "hono/jsx";

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--accent:#1f6feb;--err:#cf222e;--ok:#1a7f37;--border:#d1d9e0}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--accent:#4493f8;--err:#f85149;--ok:#3fb950;--border:#3d444d}}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:760px;margin:40px auto;padding:0 16px}.card{background:var(--card);border:1px solid var(--border);border-radius:10px;padding:24px;margin-bottom:16px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:20px 0 8px}p{margin:8px 0}.muted{color:var(--muted)}
label{display:block;margin:12px 0 4px;font-weight:600}input[type=text],input[type=email],input[type=password],input[type=url],select,textarea{width:100%;padding:8px 10px;border:1px solid var(--border);border-radius:6px;background:var(--bg);color:var(--fg);font:inherit}
button,.button{display:inline-block;margin-top:16px;padding:8px 16px;border:0;border-radius:6px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
button.secondary{background:transparent;color:var(--fg);border:1px solid var(--border)}button.danger{background:var(--err)}
.error{color:var(--err);font-weight:600}.ok{color:var(--ok);font-weight:600}code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
pre{background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:10px;overflow:auto;white-space:pre-wrap;word-break:break-all}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--border);vertical-align:top}
nav{display:flex;gap:14px;margin-bottom:16px;flex-wrap:wrap}nav a{color:var(--accent);text-decoration:none}
`;

export function Layout(props: { title: string; children: Child; nav?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{props.title} · dust-mcp</title>
        <style>{CSS}</style>
      </head>
      <body>
        <main>
          {props.nav}
          {props.children}
        </main>
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
