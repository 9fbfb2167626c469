/**
 * Entry point of an extraction process during development (`deno run`, no permissions):
 * see `child.ts`. A compiled binary enters through `main.ts` instead.
 * @module
 */
import { runExtractChild } from "./child.ts";

if (import.meta.main) Deno.exit(await runExtractChild());
