/** Entry point: run the CLI and exit with its code. */
import { runCli } from "./src/cli.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
