/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.2.0-alpha.12, the
 * newest release; installed from tests/helpers/node_tools.json, run under Deno because it needs
 * a newer Node than Debian's) in server mode against a real test server: every scenario of
 * every revision (`--suite all` for 2025-06-18, 2025-11-25 and 2026-07-28; 2025-03-26 has
 * none in server mode) and the extension scenarios (tasks, skills).
 *
 * The suite cannot send a bearer header and some scenarios drop the URL's query string, so it
 * talks to a loopback proxy that adds the MCP token (helpers/auth_proxy.ts), keeping the
 * `Host` and `Origin` it sent.
 *
 * Every check must pass except in the scenarios listed in {@link FIXTURE_SCENARIOS}: those
 * exercise the suite's own fixture tools, prompts and resources (`test_simple_text`,
 * `test_simple_prompt`, `test://static-text`, `slow_compute`, …), which a production server
 * does not carry; and even there, a failing check must be one that names a missing fixture.
 * The per-revision counts are printed (the issue note quotes them).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer } from "../helpers/server.ts";
import { startAuthProxy } from "../helpers/auth_proxy.ts";
import { createMcpUser } from "./helpers.ts";

/** Scenarios that need the suite's fixtures, with why. */
const FIXTURE_SCENARIOS: Record<string, string> = {
  "completion-complete": "completes an argument of the fixture prompt test_prompt_with_arguments",
  "tools-call-simple-text": "calls the fixture tool test_simple_text",
  "tools-call-image": "calls the fixture tool test_image_content",
  "tools-call-audio": "calls the fixture tool test_audio_content",
  "tools-call-embedded-resource": "calls the fixture tool test_embedded_resource",
  "tools-call-mixed-content": "calls the fixture tool test_multiple_content_types",
  "tools-call-with-logging": "calls the fixture tool test_tool_with_logging",
  "tools-call-error": "calls the fixture tool test_error_handling",
  "tools-call-with-progress": "calls the fixture tool test_tool_with_progress",
  "tools-call-sampling": "calls the fixture tool test_sampling",
  "tools-call-elicitation": "calls the fixture tool test_elicitation",
  "elicitation-sep1034-defaults": "calls the fixture tool test_elicitation_sep1034_defaults",
  "elicitation-sep1330-enums": "calls the fixture tool test_elicitation_sep1330_enums",
  "json-schema-2020-12": "lists the fixture tool json_schema_2020_12_tool",
  "resources-read-text": "reads the fixture resource test://static-text",
  "resources-read-binary": "reads the fixture resource test://static-binary",
  "resources-templates-read": "reads the fixture template test://template/{id}/data",
  "resources-subscribe":
    "subscribes to the fixture resource test://watched-resource on a 2025 revision, where this stateless server declares no subscriptions (it cannot deliver updates without a session)",
  "resources-unsubscribe": "same as resources-subscribe",
  "prompts-get-simple": "gets the fixture prompt test_simple_prompt",
  "prompts-get-with-args": "gets the fixture prompt test_prompt_with_arguments",
  "prompts-get-embedded-resource": "gets the fixture prompt test_prompt_with_embedded_resource",
  "prompts-get-with-image": "gets the fixture prompt test_prompt_with_image",
  "server-stateless":
    "4 of its checks need the diagnostic fixture tools test_missing_capability, test_streaming_elicitation and test_logging_tool",
  "http-custom-header-server-validation":
    "needs a fixture tool declaring x-mcp-header parameters (no tool of this server takes one)",
  "input-required-result-basic-elicitation": "calls the fixture tool test_input_required_result_*",
  "input-required-result-basic-sampling": "calls the fixture tool test_input_required_result_*",
  "input-required-result-basic-list-roots": "calls the fixture tool test_input_required_result_*",
  "input-required-result-request-state": "calls the fixture tool test_input_required_result_*",
  "input-required-result-multiple-input-requests":
    "calls the fixture tool test_input_required_result_*",
  "input-required-result-multi-round": "calls the fixture tool test_input_required_result_*",
  "input-required-result-non-tool-request":
    "gets the fixture prompt test_input_required_result_prompt",
  "input-required-result-result-type": "calls the fixture tool test_input_required_result_*",
  "input-required-result-tampered-state": "calls the fixture tool test_input_required_result_*",
  "input-required-result-capability-check": "calls the fixture tool test_input_required_result_*",
  "tasks-lifecycle": "calls the fixture tools greet, slow_compute, failing_job, protocol_error_job",
  "tasks-capability-negotiation": "calls the fixture tool slow_compute (its other checks pass)",
  "tasks-wire-fields": "calls the fixture tool slow_compute",
  "tasks-request-state-removal": "calls the fixture tools of the tasks suite",
  "tasks-mrtr-input": "calls the fixture tools of the tasks suite",
  "tasks-request-headers": "calls the fixture tools greet and slow_compute",
  "tasks-dispatch-and-envelope": "calls the fixture tools of the tasks suite",
  "tasks-required-task-error": "calls the fixture tools of the tasks suite",
  "tasks-mrtr-composition": "calls the fixture tools of the tasks suite",
};

/** What a failing check says when the thing it needs is a fixture this server lacks. */
const FIXTURE_FAILURE =
  /(Tool|Prompt) '?[\w-]+'? not found|Resource not found: test:\/\/|Not testable|Method not found|Prerequisite failed|Expected InputRequiredResult|no task was created|could not be exercised|fixture|\b(greet|slow_compute|failing_job|protocol_error_job)\b/;

const REVISIONS = ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];
const EXTENSION_SCENARIOS = [
  "tasks-lifecycle",
  "tasks-capability-negotiation",
  "tasks-wire-fields",
  "tasks-request-state-removal",
  "tasks-mrtr-input",
  "tasks-request-headers",
  "tasks-dispatch-and-envelope",
  "tasks-status-notifications",
  "tasks-required-task-error",
  "tasks-mrtr-composition",
  "sep-2640-skills-directory",
  "sep-2640-skills-enumeration",
  "sep-2640-skills-manifest",
];

function toolsDir(): string {
  return Deno.env.get("DUST_MCP_NODE_TOOLS") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache/dust-mcp/node-tools/node_modules");
}

function suiteEntry(): string {
  const entry = join(toolsDir(), "@modelcontextprotocol/conformance/dist/index.js");
  try {
    Deno.statSync(entry);
  } catch {
    throw new Error(
      `the conformance suite is not installed at ${entry}: install tests/helpers/node_tools.json (see .ci/run)`,
    );
  }
  return entry;
}

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
}

/** Run the suite once; returns the checks of each scenario it ran. */
async function runSuite(url: string, args: string[]): Promise<Map<string, Check[]>> {
  const out = await Deno.makeTempDir({ prefix: "conformance-" });
  try {
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", suiteEntry(), "server", "--url", url, ...args, "-o", out],
      cwd: join(toolsDir(), ".."),
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(600_000),
    }).output();
    const text = new TextDecoder().decode(res.stdout) + new TextDecoder().decode(res.stderr);
    const byScenario = new Map<string, Check[]>();
    for (const dir of Deno.readDirSync(out)) {
      const m = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(dir.name);
      assert.ok(m, `unexpected result directory ${dir.name}`);
      const checks = JSON.parse(Deno.readTextFileSync(join(out, dir.name, "checks.json")));
      byScenario.set(m[1], [...(byScenario.get(m[1]) ?? []), ...checks]);
    }
    assert.ok(byScenario.size > 0 || /Total: 0 passed, 0 failed/.test(text), text.slice(-2000));
    return byScenario;
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

/** Assert the run; returns its counts (checks passed and failed, scenarios fully passing). */
function judge(label: string, results: Map<string, Check[]>) {
  let passed = 0, failed = 0, cleanScenarios = 0;
  const problems: string[] = [];
  for (const [scenario, checks] of results) {
    const failures = checks.filter((c) => c.status === "FAILURE");
    passed += checks.filter((c) => c.status === "SUCCESS").length;
    failed += failures.length;
    if (failures.length === 0) {
      cleanScenarios++;
      continue;
    }
    const why = FIXTURE_SCENARIOS[scenario];
    for (const f of failures) {
      if (!why) problems.push(`${scenario} / ${f.id}: ${f.errorMessage}`);
      else if (!FIXTURE_FAILURE.test(f.errorMessage ?? "")) {
        problems.push(
          `${scenario} / ${f.id} (fails for another reason than fixtures): ${f.errorMessage}`,
        );
      }
    }
  }
  console.log(
    `conformance ${label}: ${results.size} scenarios, ${cleanScenarios} fully passing; checks ${passed} passed, ${failed} failed (all in fixture scenarios)`,
  );
  assert.deepEqual(problems, [], `${label}: failures outside the fixture scenarios`);
  return { passed, failed, cleanScenarios };
}

Deno.test("[mcp conformance] official suite, server mode, every revision and extension: no failure outside the fixture scenarios", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await using proxy = await startAuthProxy(s.port, u.mcpToken);
  const url = `${proxy.url}/mcp`;
  for (const revision of REVISIONS) {
    judge(revision, await runSuite(url, ["--spec-version", revision, "--suite", "all"]));
  }
  const extensions = new Map<string, Check[]>();
  for (const scenario of EXTENSION_SCENARIOS) {
    for (const [k, v] of await runSuite(url, ["--scenario", scenario])) extensions.set(k, v);
  }
  judge("extensions (2026-07-28)", extensions);
  // The checks of the tasks extension that need no fixture pass.
  const negotiation = extensions.get("tasks-capability-negotiation") ?? [];
  for (const id of ["tasks-extension-advertised", "sep-2663-tasks-methods-non-declaring"]) {
    assert.equal(negotiation.find((c) => c.id === id)?.status, "SUCCESS", id);
  }
});
