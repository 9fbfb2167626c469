/** @jsxImportSource hono/jsx */
/**
 * Knowledge pages: `/w/{wId}/knowledge` (the data sources of every space the member reads,
 * with a form to create one where the member may), `/w/{wId}/knowledge/{spaceId}/{dsId}`
 * (documents newest first, 50 a page, and the upload form for members who write there),
 * `…/document?id=` (one document with its text) and its delete form. Uploads are
 * multipart forms read within the extraction limits and handed to `uploadDocument`, the
 * function behind the REST upload route: the text is extracted in a bounded child process,
 * then chunked and indexed like any upsert. Works without JavaScript.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { formExpiredPage } from "./layout.tsx";
import { originCheck, readCsrfForm } from "./page_auth.ts";
import {
  ConsoleLayout,
  type ConsolePage,
  consolePage,
  Csrf,
  formatBytes,
  Notice,
  query,
  Time,
  withMember,
} from "./console_common.tsx";
import {
  browseDataSource,
  describeKnowledge,
  type KnowledgeSpace,
  type ListedDataSourceDocument,
} from "../core/knowledge_views.ts";
import { createDataSource } from "../core/data_sources.ts";
import { deleteDocument, getDocument } from "../core/documents.ts";
import { uploadDocument } from "../core/document_upload.ts";
import { capUploadBody } from "../core/files.ts";
import { readMultipartForm } from "../api/multipart.ts";
import { maxAnyInputBytes } from "../extract/limits.ts";
import { ACCEPTED_KINDS } from "../extract/kinds.ts";
import { csrfMatches } from "../auth/sessions.ts";
import { AppError, invalid } from "../errors.ts";

const KIND_LABEL: Record<string, string> = {
  global: "every member",
  regular: "Space",
  project: "Pod",
  system: "System (admins)",
};
const ACCEPT = ".pdf,.docx,.md,.markdown,.html,.htm,.txt,.text,.csv";
/** Characters of a document's text shown on its page. */
const TEXT_SHOWN = 100_000;

const base = (wId: string) => `/w/${wId}/knowledge`;
const dsPath = (wId: string, spaceId: string, dsId: string) =>
  `${base(wId)}/${encodeURIComponent(spaceId)}/${encodeURIComponent(dsId)}`;

function SpaceCard(p: { wId: string; page: ConsolePage; space: KnowledgeSpace; error?: string }) {
  const s = p.space;
  return (
    <section class="card" aria-labelledby={`space-${s.sId}`}>
      <h2 id={`space-${s.sId}`}>
        {s.name}{" "}
        <span class="muted">
          ({KIND_LABEL[s.kind] ?? s.kind}
          {s.kind === "regular" ? (s.isRestricted ? ", restricted" : ", open") : ""})
        </span>
      </h2>
      {s.dataSources.length === 0 ? <p class="muted">No data sources yet.</p> : (
        <table>
          <thead>
            <tr>
              <th scope="col">Data source</th>
              <th scope="col">Documents</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {s.dataSources.map((d) => (
              <tr key={d.sId}>
                <td>
                  <a href={dsPath(p.wId, s.sId, d.sId)}>{d.name}</a>
                  {d.description ? <div class="muted">{d.description}</div> : null}
                </td>
                <td>{d.documentCount.toLocaleString("en-US")}</td>
                <td>
                  <Time ms={d.updatedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {s.canCreateDataSource
        ? (
          <form method="post" action={`${base(p.wId)}/${encodeURIComponent(s.sId)}/data_sources`}>
            <Csrf page={p.page} />
            <Notice error={p.error} />
            <label for={`name-${s.sId}`}>New data source name</label>
            <input id={`name-${s.sId}`} name="name" type="text" required maxlength={100} />
            <label for={`desc-${s.sId}`}>Description (optional)</label>
            <input id={`desc-${s.sId}`} name="description" type="text" maxlength={1000} />
            <button type="submit">Create data source</button>
          </form>
        )
        : null}
    </section>
  );
}

async function renderOverview(
  c: Context<AppEnv>,
  page: ConsolePage,
  failed?: { spaceId: string; error: string },
) {
  const wId = page.actor.workspace.sId;
  const spaces = await describeKnowledge(c.var.deps, page.actor);
  return c.html(
    <ConsoleLayout title="Knowledge">
      <div class="card">
        <h1>Knowledge</h1>
        <p>
          Documents in the data sources of the spaces you can read. Agents and MCP clients find them
          with <code>search</code>, each member only in the spaces they read.
        </p>
      </div>
      {spaces.length === 0 ? <p class="card">You cannot read any space.</p> : null}
      {spaces.map((s) => (
        <SpaceCard
          key={s.sId}
          wId={wId}
          page={page}
          space={s}
          error={failed?.spaceId === s.sId ? failed.error : undefined}
        />
      ))}
    </ConsoleLayout>,
    failed ? 400 : 200,
  );
}

function DocumentRows(
  p: { wId: string; spaceId: string; dsId: string; docs: ListedDataSourceDocument[] },
) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Title</th>
          <th scope="col">Size</th>
          <th scope="col">Source</th>
          <th scope="col">Indexed</th>
        </tr>
      </thead>
      <tbody>
        {p.docs.map((d) => (
          <tr key={d.documentId}>
            <td>
              <a
                href={`${dsPath(p.wId, p.spaceId, p.dsId)}/document${query({ id: d.documentId })}`}
              >
                {d.title || d.documentId}
              </a>
              <div class="muted">
                <code>{d.documentId}</code>
              </div>
            </td>
            <td>{formatBytes(d.textSize)}</td>
            <td>
              {d.mimeType}
              {d.sourceUrl ? <div class="muted">{d.sourceUrl.slice(0, 80)}</div> : null}
            </td>
            <td>
              <Time ms={d.updatedAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

async function renderDataSource(
  c: Context<AppEnv>,
  page: ConsolePage,
  notice: { ok?: string; error?: string } = {},
) {
  const wId = page.actor.workspace.sId;
  const spaceId = c.req.param("spaceId")!;
  const dsId = c.req.param("dsId")!;
  const cursor = c.req.query("cursor") || undefined;
  const r = await browseDataSource(c.var.deps, page.actor, {
    spaceId,
    dataSourceId: dsId,
    cursor: notice.error ? undefined : cursor,
  });
  const here = dsPath(wId, spaceId, dsId);
  return c.html(
    <ConsoleLayout
      title={`${r.dataSource.name} · Knowledge`}
      crumbs={
        <>
          <a href={base(wId)}>Knowledge</a> / {r.space.name} / {r.dataSource.name}
        </>
      }
    >
      <div class="card">
        <h1>{r.dataSource.name}</h1>
        {r.dataSource.description ? <p>{r.dataSource.description}</p> : null}
        <p class="muted">
          {`${r.total.toLocaleString("en-US")} document${
            r.total === 1 ? "" : "s"
          } in ${r.space.name}.`}
        </p>
        <Notice ok={notice.ok} error={notice.error} />
        {r.canWriteDocuments
          ? (
            <form method="post" action={`${here}/upload`} enctype="multipart/form-data">
              <Csrf page={page} />
              <h2>Upload a document</h2>
              <p class="muted">{`Accepted: ${ACCEPTED_KINDS}.`}</p>
              <label for="file">File</label>
              <input id="file" name="file" type="file" accept={ACCEPT} required />
              <label for="title">
                Title (optional: the document's own title, else the file name)
              </label>
              <input id="title" name="title" type="text" maxlength={1024} />
              <label for="document_id">Document id (optional: from the file name)</label>
              <input id="document_id" name="document_id" type="text" maxlength={512} />
              <button type="submit">Upload</button>
            </form>
          )
          : <p class="muted">You can read this data source but not add documents to it.</p>}
      </div>
      <div class="card">
        <h2>Documents</h2>
        {r.documents.length === 0
          ? <p>No documents yet.</p>
          : <DocumentRows wId={wId} spaceId={spaceId} dsId={dsId} docs={r.documents} />}
        <p>
          {cursor ? <a href={here}>Newest</a> : null}
          {cursor && r.nextCursor ? " · " : null}
          {r.nextCursor
            ? <a href={`${here}${query({ cursor: r.nextCursor })}`}>Older documents</a>
            : null}
        </p>
      </div>
    </ConsoleLayout>,
    notice.error ? 400 : 200,
  );
}

async function renderDocument(c: Context<AppEnv>, page: ConsolePage) {
  const wId = page.actor.workspace.sId;
  const spaceId = c.req.param("spaceId")!;
  const dsId = c.req.param("dsId")!;
  const id = c.req.query("id") ?? "";
  const deps = c.var.deps;
  const where = { spaceId, dataSourceId: dsId };
  const browse = await browseDataSource(deps, page.actor, { ...where, limit: 1 });
  const { document: d } = await getDocument(deps, page.actor, { ...where, documentId: id });
  const text = d.text ?? "";
  const source = d.source_url && /^https?:\/\//i.test(d.source_url) ? d.source_url : null;
  return c.html(
    <ConsoleLayout
      title={`${d.title || d.document_id} · Knowledge`}
      crumbs={
        <>
          <a href={base(wId)}>Knowledge</a> / {browse.space.name} /{" "}
          <a href={dsPath(wId, spaceId, dsId)}>{browse.dataSource.name}</a>
        </>
      }
    >
      <div class="card">
        <h1>{d.title || d.document_id}</h1>
        <table>
          <tbody>
            <tr>
              <th scope="row">Id</th>
              <td>
                <code>{d.document_id}</code>
              </td>
            </tr>
            <tr>
              <th scope="row">Type</th>
              <td>{d.mime_type}</td>
            </tr>
            <tr>
              <th scope="row">Size</th>
              <td>{`${formatBytes(d.text_size)} of text in ${d.chunk_count} chunks`}</td>
            </tr>
            <tr>
              <th scope="row">Source</th>
              <td>
                {source
                  ? <a href={source} rel="noopener noreferrer">{source}</a>
                  : d.source_url ?? "—"}
              </td>
            </tr>
            <tr>
              <th scope="row">Time</th>
              <td>
                <Time ms={d.timestamp} />
              </td>
            </tr>
            <tr>
              <th scope="row">Tags</th>
              <td>{d.tags.length ? d.tags.join(", ") : "—"}</td>
            </tr>
          </tbody>
        </table>
        {browse.canWriteDocuments
          ? (
            <form method="post" action={`${dsPath(wId, spaceId, dsId)}/document/delete`}>
              <Csrf page={page} />
              <input type="hidden" name="id" value={d.document_id} />
              <button type="submit" class="danger">Delete this document</button>
            </form>
          )
          : null}
      </div>
      <div class="card">
        <h2>Text</h2>
        {text.length > TEXT_SHOWN
          ? (
            <p class="muted">
              {`The first ${TEXT_SHOWN.toLocaleString("en-US")} characters of ${
                text.length.toLocaleString("en-US")
              }.`}
            </p>
          )
          : null}
        <pre>{text.slice(0, TEXT_SHOWN)}</pre>
      </div>
    </ConsoleLayout>,
  );
}

class FormExpired extends Error {}

/** Read the upload form within the extraction limits; the CSRF token must match. */
async function readUploadForm(c: Context<AppEnv>, page: ConsolePage) {
  const raw = c.req.raw;
  const max = maxAnyInputBytes(c.var.deps.extractor.limits);
  const form = await readMultipartForm(
    capUploadBody(raw.body, raw.headers.get("content-length") ?? undefined),
    raw.headers.get("content-type") ?? undefined,
    {
      fileField: "file",
      fields: ["csrf", "title", "document_id"],
      maxFileBytes: max,
      fileTooLarge: () =>
        new AppError(400, "file_too_large", `The file is larger than ${max / 2 ** 20} MB.`),
    },
  );
  if (!csrfMatches(page.session.session, form.fields.get("csrf")?.[0])) throw new FormExpired();
  const file = form.file;
  if (!file || (file.bytes.length === 0 && !file.fileName)) {
    throw invalid("file: choose a file to upload");
  }
  const one = (k: string) => form.fields.get(k)?.[0]?.trim() || null;
  return { file, fields: { title: one("title"), documentId: one("document_id") } };
}

/** The knowledge pages (mounted at the root). */
export function knowledgeRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/knowledge", consolePage);
  app.use("/w/:wId/knowledge/*", consolePage);
  app.use("/w/:wId/knowledge/*", originCheck);

  app.get("/w/:wId/knowledge", (c) => withMember(c, (page) => renderOverview(c, page)));

  app.post("/w/:wId/knowledge/:spaceId/data_sources", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      const spaceId = c.req.param("spaceId");
      try {
        const r = await createDataSource(c.var.deps, page.actor, {
          spaceId,
          name: form.name ?? "",
          description: form.description?.trim() || null,
        });
        return c.redirect(dsPath(page.actor.workspace.sId, spaceId, r.data_source.sId), 303);
      } catch (e) {
        if (!(e instanceof AppError) || (e.status !== 400 && e.status !== 409)) throw e;
        return await renderOverview(c, page, { spaceId, error: e.message });
      }
    }));

  app.get("/w/:wId/knowledge/:spaceId/:dsId", (c) =>
    withMember(c, (page) => {
      const uploaded = c.req.query("uploaded");
      const deleted = c.req.query("deleted");
      const ok = uploaded
        ? `Uploaded and indexed "${uploaded}".`
        : deleted
        ? `Deleted "${deleted}".`
        : undefined;
      return renderDataSource(c, page, { ok });
    }));

  app.post("/w/:wId/knowledge/:spaceId/:dsId/upload", (c) =>
    withMember(c, async (page) => {
      const spaceId = c.req.param("spaceId");
      const dsId = c.req.param("dsId");
      try {
        const r = await uploadDocument(c.var.deps, page.actor, {
          spaceId,
          dataSourceId: dsId,
          read: () => readUploadForm(c, page),
        });
        const to = dsPath(page.actor.workspace.sId, spaceId, dsId);
        return c.redirect(`${to}${query({ uploaded: r.document.document_id })}`, 303);
      } catch (e) {
        // Refused before the body was read (permission, missing data source): drop the rest.
        const body = c.req.raw.body;
        if (body && !c.req.raw.bodyUsed) await body.cancel().catch(() => {});
        if (e instanceof FormExpired) return formExpiredPage(c);
        if (!(e instanceof AppError) || e.status >= 500 || e.status === 403 || e.status === 404) {
          throw e;
        }
        return await renderDataSource(c, page, { error: `Upload refused: ${e.message}` });
      }
    }));

  app.get(
    "/w/:wId/knowledge/:spaceId/:dsId/document",
    (c) => withMember(c, (page) => renderDocument(c, page)),
  );

  app.post(
    "/w/:wId/knowledge/:spaceId/:dsId/document/delete",
    (c) =>
      withMember(c, async (page) => {
        const form = await readCsrfForm(c, page.session);
        if (!form) return formExpiredPage(c);
        const spaceId = c.req.param("spaceId");
        const dsId = c.req.param("dsId");
        const r = await deleteDocument(c.var.deps, page.actor, {
          spaceId,
          dataSourceId: dsId,
          documentId: form.id ?? "",
        });
        const to = dsPath(page.actor.workspace.sId, spaceId, dsId);
        return c.redirect(`${to}${query({ deleted: r.document.document_id })}`, 303);
      }),
  );

  return app;
}
