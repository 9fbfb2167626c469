/**
 * `files_grep`'s matching, run on a search worker (src/core/search_worker_main.ts). Its own
 * module so that the main thread never loads RE2 for it.
 * @module
 */
import { RE2JS } from "re2js";

export interface GrepRequest {
  text: string;
  /** An RE2 pattern (validated by `compileGrepPattern`; `(?i)` and other RE2 flags inline). */
  source: string;
  maxMatches: number;
  lineMaxChars: number;
}

export interface GrepResult {
  matches: string[];
  capped: boolean;
  error?: string;
}

/**
 * Match `source` line by line (1-based numbers), stopping at `maxMatches`. RE2 (as Dust's
 * grep) runs in linear time: a backtracking JavaScript RegExp such as `(a+)+$` can run for
 * ever, and `Worker.terminate()` does not interrupt a running RegExp — the timed-out worker's
 * thread went on burning a core until the process exited (and kept it from exiting).
 */
export function runGrep(req: GrepRequest): GrepResult {
  let re: RE2JS;
  try {
    re = RE2JS.compile(req.source);
  } catch (e) {
    return { matches: [], capped: false, error: e instanceof Error ? e.message : String(e) };
  }
  const matches: string[] = [];
  let start = 0;
  let n = 0;
  while (start < req.text.length) {
    let end = req.text.indexOf("\n", start);
    if (end < 0) end = req.text.length;
    n++;
    let line = req.text.slice(start, end);
    if (line.endsWith("\r")) line = line.slice(0, -1);
    start = end + 1;
    if (line.length > req.lineMaxChars) {
      return {
        matches,
        capped: false,
        error: `Cannot search a line longer than ${req.lineMaxChars} characters.`,
      };
    }
    if (re.matcher(line).find()) {
      matches.push(`${n}: ${line}`);
      if (matches.length >= req.maxMatches) return { matches, capped: true };
    }
  }
  return { matches, capped: false };
}
