/**
 * `deno task check` step: find promises that are used as if they were values. The core is async
 * (every query returns a promise), and a forgotten `await` in front of an access check is not a
 * type error: `if (canReadSpace(…))`, `!isAdmin(…)`, `a && canWrite(…)` are always truthy. Deno's
 * linter has no type-aware rule for it, so this script asks the TypeScript checker (the npm
 * package, run here only) for every expression of a Promise type that is
 *
 * - a statement on its own (a floating promise) — unless prefixed with `void`,
 * - a condition (`if`, `while`, `for`, `?:`) or an operand of `!`, `&&`, `||`, `??`, `==`, `!=`,
 *   `===`, `!==`,
 * - interpolated into a template string or spread,
 * - returned by a callback of `filter`, `some`, `every`, `find`, `sort` (always truthy),
 * - passed to a parameter that accepts anything (`assert.equal(p, …)`, `JSON.stringify(p)`),
 * - an async function given where a callback returning `void` is expected (nobody awaits it:
 *   its failures are unhandled and its work unordered).
 *
 * Usage: `deno run --allow-read --allow-env scripts/check_promises.ts [dir…]` (default: src).
 * Exits 1 and lists `file:line:col  what` when it finds any.
 * @module
 */
import ts from "npm:typescript@6.0.3";
import { join, relative, resolve } from "node:path";

const roots = Deno.args.length ? Deno.args : ["src", "main.ts"];

function collect(path: string, out: string[]): void {
  const stat = Deno.statSync(path);
  if (stat.isFile) {
    if (/\.tsx?$/.test(path)) out.push(resolve(path));
    return;
  }
  for (const e of Deno.readDirSync(path)) collect(join(path, e.name), out);
}

const files: string[] = [];
for (const r of roots) collect(r, files);

const program = ts.createProgram(files, {
  target: ts.ScriptTarget.ESNext,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  allowImportingTsExtensions: true,
  noEmit: true,
  strict: true,
  jsx: ts.JsxEmit.Preserve,
  skipLibCheck: true,
  lib: ["lib.esnext.d.ts", "lib.dom.d.ts"],
});
const checker = program.getTypeChecker();

function isPromise(node: ts.Node): boolean {
  const type = checker.getTypeAtLocation(node);
  return isPromiseType(type);
}

/** A promise that may be absent (`Promise<T> | undefined`): testing it for presence is fine. */
function isDefinitePromise(node: ts.Node): boolean {
  const type = checker.getTypeAtLocation(node);
  if (!isPromiseType(type)) return false;
  if (!type.isUnion()) return true;
  return !type.types.some((t) =>
    (t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.Void)) !== 0
  );
}

/** `p.catch(…)` and `p.then(…, onRejected)` handle their promise's failure. */
function isHandled(e: ts.Expression): boolean {
  if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression)) return false;
  const name = e.expression.name.text;
  return name === "catch" || (name === "then" && e.arguments.length >= 2);
}

function isPromiseType(type: ts.Type): boolean {
  if (type.isUnion()) return type.types.some(isPromiseType);
  const symbol = type.getSymbol();
  if (!symbol) return false;
  const name = symbol.getName();
  return name === "Promise" || name === "PromiseLike";
}

const findings: string[] = [];

function report(node: ts.Node, what: string): void {
  const sf = node.getSourceFile();
  const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart());
  findings.push(`${relative(Deno.cwd(), sf.fileName)}:${line + 1}:${character + 1}  ${what}`);
}

const CONDITION_OPERATORS = new Set([
  ts.SyntaxKind.AmpersandAmpersandToken,
  ts.SyntaxKind.BarBarToken,
  ts.SyntaxKind.QuestionQuestionToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
]);

/** Array methods that read their callback's result as a value (a promise is always truthy). */
const PREDICATE_METHODS = new Set([
  "filter",
  "some",
  "every",
  "find",
  "findIndex",
  "findLast",
  "sort",
]);

function returnsPromise(fn: ts.Expression): boolean {
  const signatures = checker.getTypeAtLocation(fn).getCallSignatures();
  return signatures.some((s) => isPromiseType(s.getReturnType()));
}

function visit(node: ts.Node): void {
  if (ts.isExpressionStatement(node)) {
    const e = node.expression;
    const skip = ts.isVoidExpression(e) || ts.isAwaitExpression(e) || isHandled(e) ||
      (ts.isBinaryExpression(e) && e.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        e.operatorToken.kind <= ts.SyntaxKind.LastAssignment);
    if (!skip && isPromise(e)) report(e, "floating promise (await it, or prefix `void`)");
  } else if (
    (ts.isIfStatement(node) || ts.isWhileStatement(node) || ts.isDoStatement(node)) &&
    isDefinitePromise(node.expression)
  ) {
    report(node.expression, "promise used as a condition");
  } else if (ts.isForStatement(node) && node.condition && isDefinitePromise(node.condition)) {
    report(node.condition, "promise used as a condition");
  } else if (ts.isConditionalExpression(node) && isDefinitePromise(node.condition)) {
    report(node.condition, "promise used as a condition");
  } else if (
    ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken &&
    isDefinitePromise(node.operand)
  ) {
    report(node.operand, "promise negated");
  } else if (ts.isBinaryExpression(node) && CONDITION_OPERATORS.has(node.operatorToken.kind)) {
    // `x ?? (await y)` and `a || b` chains of promises are both wrong; a promise on the right of
    // `&&` / `||` that is then awaited as a whole is fine (`await (a && p)` is rare; report it).
    if (isDefinitePromise(node.left)) report(node.left, "promise used as an operand");
    else if (
      node.operatorToken.kind !== ts.SyntaxKind.AmpersandAmpersandToken &&
      node.operatorToken.kind !== ts.SyntaxKind.BarBarToken &&
      node.operatorToken.kind !== ts.SyntaxKind.QuestionQuestionToken &&
      isPromise(node.right)
    ) report(node.right, "promise compared");
  } else if (
    ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) &&
    PREDICATE_METHODS.has(node.expression.name.text) && node.arguments.length > 0 &&
    returnsPromise(node.arguments[0])
  ) {
    report(node.arguments[0], `async callback given to .${node.expression.name.text}()`);
  } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
    const sig = checker.getResolvedSignature(node);
    node.arguments.forEach((arg, i) => {
      if (!sig || !isDefinitePromise(arg)) return;
      const param = sig.parameters[Math.min(i, sig.parameters.length - 1)];
      if (!param) return;
      const decl = param.valueDeclaration;
      let type = checker.getTypeOfSymbolAtLocation(param, node);
      if (decl && ts.isParameter(decl) && decl.dotDotDotToken) {
        type = checker.getIndexTypeOfType(type, ts.IndexKind.Number) ?? type;
      }
      if ((type.flags & (ts.TypeFlags.Unknown | ts.TypeFlags.Any)) !== 0) {
        report(arg, "promise passed where any value is accepted (assert, log, JSON)");
      }
    });
  }
  if ((ts.isArrowFunction(node) || ts.isFunctionExpression(node)) && returnsPromise(node)) {
    const contextual = checker.getContextualType(node);
    const signatures = contextual?.getCallSignatures() ?? [];
    const voidOnly = signatures.length > 0 &&
      signatures.every((sig) => (sig.getReturnType().flags & ts.TypeFlags.Void) !== 0);
    if (voidOnly) {
      report(node, "async function where the caller expects a void callback (never awaited)");
    }
  }
  if (ts.isTemplateSpan(node) && isPromise(node.expression)) {
    report(node.expression, "promise in a template string");
  } else if (ts.isSpreadElement(node) && isPromise(node.expression)) {
    report(node.expression, "promise spread");
  }
  ts.forEachChild(node, visit);
}

for (const sf of program.getSourceFiles()) {
  if (sf.isDeclarationFile || !files.includes(resolve(sf.fileName))) continue;
  visit(sf);
}

if (findings.length) {
  console.error(findings.join("\n"));
  console.error(`${findings.length} misused promise(s)`);
  Deno.exit(1);
}
console.log(`check_promises: ${files.length} files, no misused promise`);
