/**
 * The served OpenAPI document tells the truth (issue 14, deliverable 3): its refs resolve,
 * responses match their schemas and statuses, what it documents as valid input is accepted
 * and what it refuses the server refuses, unknown query parameters are ignored everywhere,
 * and 405 / OPTIONS agree with it. The REST fuzzer checks every response it gets against the
 * same document (tests/fuzz/rest_fuzz_test.ts); these are the named cases.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createFolder, globalSpaceSId, putDocument } from "../helpers/knowledge.ts";
import { type ContractResponse, OpenApiContract } from "../helpers/openapi_contract.ts";
import { startFuzzWorld } from "../helpers/fuzz_world.ts";
import { idsFor } from "../helpers/fuzz_arbs.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function contractOf(server: TestServer): Promise<OpenApiContract> {
  return new OpenApiContract((await apiJson(server, null, "/api/v1/openapi.json")).body);
}

/** Call the server and check the answer against the document. */
async function call(
  server: TestServer,
  contract: OpenApiContract,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ContractResponse & { json: Json }> {
  const withBody = body !== undefined && method !== "GET";
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(withBody ? { "Content-Type": "application/json" } : {}),
    },
    body: withBody ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const isJson = (res.headers.get("content-type") ?? "").includes("json");
  const r = {
    status: res.status,
    headers: res.headers,
    text,
    json: isJson && text ? JSON.parse(text) : null,
  };
  assert.equal(contract.check({ method, path }, r), null);
  return r;
}

Deno.test("[api/openapi] every $ref resolves and every schema compiles as JSON Schema 2020-12", async () => {
  await using server = await startTestServer();
  const contract = await contractOf(server);
  assert.deepEqual(contract.compileAll(), []);
  const text = JSON.stringify(contract.doc);
  assert.ok(!text.includes('"#/$defs/'), "no reference into a $defs that is not there");
  const upsert = contract.doc.paths[
    "/api/v1/w/{wId}/spaces/{spaceId}/data_sources/{dsId}/documents/{documentId}"
  ].post.requestBody.content["application/json"].schema;
  const section = contract.resolve(upsert.properties.section.anyOf[0]);
  assert.ok(section.properties.sections, "the recursive section schema is a component");
});

Deno.test("[api/openapi] data-source objects match their schemas (editedByUser) and 409 is documented", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const contract = await contractOf(server);
  const w = `/api/v1/w/${admin.workspace.sId}`;
  const gs = await globalSpaceSId(server, admin.workspace);
  const created = await call(
    server,
    contract,
    admin.token,
    "POST",
    `${w}/spaces/${gs}/data_sources`,
    {
      name: "Handbook",
    },
  );
  assert.equal(created.status, 200);
  assert.equal(created.json.data_source.editedByUser, null);
  const again = await call(
    server,
    contract,
    admin.token,
    "POST",
    `${w}/spaces/${gs}/data_sources`,
    {
      name: "Handbook",
    },
  );
  assert.equal(again.status, 409);
  assert.equal(again.json.error.type, "conflict");
  for (const path of [`${w}/data_sources`, `${w}/spaces/${gs}/data_sources`]) {
    const r = await call(server, contract, admin.token, "GET", path);
    assert.equal(r.status, 200);
    assert.equal(r.json.data_sources.length, 1);
  }
  const views = await call(
    server,
    contract,
    admin.token,
    "GET",
    `${w}/spaces/${gs}/data_source_views`,
  );
  assert.equal(views.json.data_source_views[0].dataSource.editedByUser, null);
  const ds = created.json.data_source.sId;
  const upsert = await call(
    server,
    contract,
    admin.token,
    "POST",
    `${w}/spaces/${gs}/data_sources/${ds}/documents/d1`,
    { section: { prefix: "Title", sections: [{ content: "alpha" }] }, light_document_output: true },
  );
  assert.equal(upsert.status, 200);
  assert.equal(upsert.json.document.chunk_count, 1);
});

/** Does the document accept this value for a query parameter of an operation? */
function paramValid(contract: OpenApiContract, path: string, name: string, value: string) {
  const params = contract.doc.paths[path].get.parameters as { name: string }[];
  const i = params.findIndex((p) => p.name === name);
  assert.ok(i >= 0, `${name} is documented on ${path}`);
  return contract.validatorAt(["paths", path, "get", "parameters", String(i), "schema"])(value);
}

function bodyValid(contract: OpenApiContract, path: string, body: unknown) {
  return contract.validatorAt([
    "paths",
    path,
    "post",
    "requestBody",
    "content",
    "application/json",
    "schema",
  ])(body);
}

Deno.test("[api/openapi] what the document calls valid input is accepted, what it refuses is refused", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const contract = await contractOf(server);
  const w = `/api/v1/w/${admin.workspace.sId}`;
  const W = "/api/v1/w/{wId}";
  const gs = await globalSpaceSId(server, admin.workspace);
  const ds = await createFolder(server, actorOf(admin), gs, "handbook");
  await putDocument(server, actorOf(admin), { spaceId: gs, dataSourceId: ds }, "d1", "alpha");

  const queries: [string, string, string, string][] = [
    [
      `${W}/data_sources/{dsId}/search`,
      `${w}/data_sources/${ds}/search?query=alpha`,
      "parents_not",
      "p1",
    ],
    [`${W}/assistant/conversations`, `${w}/assistant/conversations`, "lastValue", "abc"],
    [`${W}/assistant/conversations`, `${w}/assistant/conversations`, "lastValue", "1700000000000"],
    [`${W}/spaces`, `${w}/spaces`, "kinds", "bogus"],
    [`${W}/spaces`, `${w}/spaces`, "kinds", "global, regular"],
    [
      `${W}/spaces/{spaceId}/data_sources/{dsId}/documents`,
      `${w}/spaces/${gs}/data_sources/${ds}/documents`,
      "cursor",
      "xyz",
    ],
    [`${W}/storage`, `${w}/storage`, "cursor", "1.2.3"],
  ];
  for (const [template, url, name, value] of queries) {
    const documented = paramValid(contract, template, name, value);
    const sep = url.includes("?") ? "&" : "?";
    const r = await call(
      server,
      contract,
      admin.token,
      "GET",
      `${url}${sep}${name}=${encodeURIComponent(value)}`,
    );
    assert.equal(r.status === 200, documented, `${name}=${value} on ${template}: ${r.text}`);
  }

  const message = (timezone: string) => ({
    message: { content: "hi", mentions: [], context: { username: "admin", timezone } },
  });
  const bodies: [string, string, unknown][] = [
    [`${W}/search`, `${w}/search`, { query: "alpha", nodeIds: ["d1"] }],
    [`${W}/search`, `${w}/search`, { query: "alpha" }],
    [`${W}/search`, `${w}/search`, { nodeIds: ["d1"] }],
    [`${W}/assistant/conversations`, `${w}/assistant/conversations`, message("")],
    [`${W}/assistant/conversations`, `${w}/assistant/conversations`, message("Europe/Paris")],
    [`${W}/assistant/conversations`, `${w}/assistant/conversations`, {
      contentFragment: { title: "notes", content: "x", contentType: "text/plain" },
    }],
    [`${W}/assistant/conversations`, `${w}/assistant/conversations`, {
      contentFragment: { title: "notes", content: "x", contentType: "text/plain", fileId: "f" },
    }],
    [`${W}/spaces`, `${w}/spaces`, { kind: "regular", name: "   " }],
    [`${W}/spaces/{spaceId}/data_sources`, `${w}/spaces/${gs}/data_sources`, { name: " ! " }],
    [`${W}/groups`, `${w}/groups`, { name: "  " }],
    [
      `${W}/spaces/{spaceId}/data_sources/{dsId}/documents/{documentId}`,
      `${w}/spaces/${gs}/data_sources/${ds}/documents/d2`,
      { title: "no text" },
    ],
  ];
  for (const [template, url, body] of bodies) {
    const documented = bodyValid(contract, template, body);
    const r = await call(server, contract, admin.token, "POST", url, body);
    assert.equal(r.status === 200, documented, `${JSON.stringify(body)} on ${template}: ${r.text}`);
    if (!documented) assert.equal(r.status, 400);
  }
});

Deno.test("[api/openapi] an unknown query parameter changes no answer, on every documented GET route", async () => {
  await using world = await startFuzzWorld();
  const contract = await contractOf(world.server);
  const fill = (p: string) => p.replace(/\{(\w+)\}/g, (_, n: string) => idsFor(world.a, n)[0]);
  let checked = 0;
  for (const [path, ops] of Object.entries(contract.doc.paths as Record<string, Json>)) {
    const op = ops.get;
    if (
      !op ||
      op.responses["200"]?.content?.["text/event-stream"] &&
        !op.responses["200"].content["application/json"]
    ) continue;
    const url = fill(path);
    const plain = await call(world.server, contract, world.a.token, "GET", url);
    const extra = await call(
      world.server,
      contract,
      world.a.token,
      "GET",
      `${url}?zz_unknown=1&limit_x=%ZZ`,
    );
    assert.equal(extra.status, plain.status, `${path}: ${extra.text.slice(0, 200)}`);
    if (plain.status >= 400) assert.deepEqual(extra.json, plain.json, path);
    checked++;
  }
  assert.ok(checked >= 25, `only ${checked} GET routes`);
});

Deno.test("[api/openapi] 405 and OPTIONS name exactly the documented methods on every path", async () => {
  await using world = await startFuzzWorld();
  const contract = await contractOf(world.server);
  const fill = (p: string) => p.replace(/\{(\w+)\}/g, (_, n: string) => idsFor(world.a, n)[0]);
  for (const [path, ops] of Object.entries(contract.doc.paths as Record<string, object>)) {
    const url = fill(path);
    const documented = Object.keys(ops).map((m) => m.toUpperCase()).sort();
    const options = await call(world.server, contract, world.a.token, "OPTIONS", url);
    assert.equal(options.status, 204, path);
    assert.equal(options.headers.get("allow"), documented.join(", "), path);
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
      if (documented.includes(method)) continue;
      const r = await call(world.server, contract, world.a.token, method, url, {});
      assert.equal(r.status, 405, `${method} ${path}: ${r.text.slice(0, 200)}`);
      assert.equal(r.json.error.type, "method_not_supported_error");
      assert.equal(r.headers.get("allow"), documented.join(", "), `${method} ${path}`);
    }
  }
  const w = `/api/v1/w/${world.a.ids.wId}`;
  const search = await call(
    world.server,
    contract,
    world.a.token,
    "PATCH",
    `${w}/assistant/agent_configurations/search`,
    {
      userFavorite: true,
    },
  );
  assert.equal(search.status, 405, "PATCH …/search does not fall through to …/{sId}");
  assert.equal(search.headers.get("allow"), "GET");
  const slash = await apiJson(world.server, world.a.token, `${w}/spaces/`);
  assert.equal(slash.status, 404, "a trailing slash is another path, not a 405");
});
