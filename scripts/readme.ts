/**
 * `deno task readme`: rewrite the README's configuration table from `src/config.ts`, so the
 * table, `--help` and the code never disagree. A test fails when the README is stale.
 * @module
 */
import { settingsMarkdown } from "../src/config.ts";

export const TABLE_START = "<!-- config:start -->";
export const TABLE_END = "<!-- config:end -->";

/** The table currently between the markers, or null when the markers are missing. */
export function readTable(readme: string): string | null {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return null;
  return readme.slice(start + TABLE_START.length, end).trim();
}

/**
 * A table reduced to its cells: `deno fmt` pads markdown tables for alignment, so the
 * generated table and the formatted README compare equal cell by cell, not byte by byte.
 */
export function normaliseTable(table: string): string {
  return table.trim().split("\n").map((line) =>
    line.trim().split("|").map((cell) => cell.trim().replace(/^-{3,}$/, "---")).join("|")
  ).join("\n");
}

/** The README with the generated table between the markers. */
export function renderReadme(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(`README.md needs the markers ${TABLE_START} and ${TABLE_END}`);
  }
  return `${readme.slice(0, start + TABLE_START.length)}\n${settingsMarkdown()}\n${
    readme.slice(end)
  }`;
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  const before = await Deno.readTextFile(path);
  const current = readTable(before);
  if (current !== null && normaliseTable(current) === normaliseTable(settingsMarkdown())) {
    console.log("README.md configuration table is up to date");
  } else {
    await Deno.writeTextFile(path, renderReadme(before));
    console.log("README.md configuration table rewritten from src/config.ts");
  }
}
