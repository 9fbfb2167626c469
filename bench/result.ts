/** What every benchmark module's `run()` returns (see bench/run.ts). */
export interface BenchResult {
  name: string;
  /** Measured target ÷ baseline measured in the same run (higher is better unless noted). */
  ratio: number;
  /** What the ratio means, e.g. "/healthz req/s ÷ bare Deno.serve req/s". */
  ratioLabel: string;
  /** Printed lines (one per measurement). */
  lines: string[];
  /**
   * What went wrong when the bench has a pass bar (e.g. "errors must be 0"); any entry makes
   * `deno task bench` exit 1 after printing every result.
   */
  failures?: string[];
  /** Raw figures, written to bench/.out/<name>.json. */
  figures: Record<string, unknown>;
}
