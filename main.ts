/** Entry point: run the CLI and exit with its code (or, started by the server, read one document). */
import { runCli } from "./src/cli.ts";
import { EXTRACT_CHILD_ARG, runExtractChild } from "./src/extract/child.ts";

if (import.meta.main) {
  // A compiled binary is its own extraction process (src/extract/pool.ts).
  if (Deno.build.standalone && Deno.args[0] === EXTRACT_CHILD_ARG) {
    Deno.exit(await runExtractChild());
  }
  Deno.exit(await runCli(Deno.args));
}
