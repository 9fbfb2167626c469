/**
 * `deno run -A scripts/vendor_assets.ts`: write the browser libraries the console serves
 * (uPlot's script and stylesheet, from the npm package pinned in deno.json) into
 * src/pages/vendor/uplot.ts as string constants. The binary embeds modules, not files, so a
 * library it serves must be a module (tests/pages/assets_test.ts checks the copy is exact).
 * @module
 */
import js from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import css from "uplot/dist/uPlot.min.css" with { type: "text" };
import license from "uplot/LICENSE" with { type: "text" };

const version = /\(v(\d+\.\d+\.\d+)\)/.exec(js)?.[1];
if (!version) throw new Error("cannot read uPlot's version from its script");
const out = `// deno-fmt-ignore-file
// deno-lint-ignore-file
/**
 * uPlot ${version} (https://github.com/leeoniya/uPlot), MIT licence (below), written by
 * scripts/vendor_assets.ts from the npm package: do not edit.
 *
${license.trim().split("\n").map((l) => ` * ${l}`.trimEnd()).join("\n")}
 * @module
 */
export const UPLOT_VERSION = ${JSON.stringify(version)};
export const UPLOT_JS = ${JSON.stringify(js)};
export const UPLOT_CSS = ${JSON.stringify(css)};
`;
await Deno.writeTextFile(new URL("../src/pages/vendor/uplot.ts", import.meta.url), out);
console.log(`src/pages/vendor/uplot.ts: uPlot ${version}, ${js.length + css.length} characters`);
