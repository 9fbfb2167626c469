/** What every benchmark module's `run()` returns (see bench/run.ts). */
export interface BenchResult {
  name: string;
  /** Measured target ÷ baseline measured in the same run (higher is better unless noted). */
  ratio: number;
  /** What the ratio means, e.g. "/healthz req/s ÷ bare Deno.serve req/s". */
  ratioLabel: string;
  /** Printed lines (one per measurement). */
  lines: string[];
  /** Raw figures, written to bench/.out/<name>.json. */
  figures: Record<string, unknown>;
}
