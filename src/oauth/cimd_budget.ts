/**
 * Budgets for Client ID Metadata Document fetches (issue 10 finding 10). Every fetch that goes
 * to the network (a DNS lookup or an HTTP request: cache hits, coalesced lookups and URLs refused
 * on their face cost nothing) is counted against the requesting address and against the whole
 * server, in fixed 10-minute windows. Past either budget the lookup is refused with 429 and
 * `Retry-After`, so nobody can drive the server into probing hosts at will.
 *
 * The per-address key is the peer address of the request (`remoteIp`), an IPv6 address by its
 * /64 (one host usually holds a whole /64). At most 10,000 addresses are tracked; when full the
 * oldest window is dropped, and the server-wide budget still bounds whatever an attacker with
 * many addresses can do. Defaults (`--cimd-fetches-per-ip`, `--cimd-fetches-total`) live in
 * src/config.ts.
 * @module
 */
import { OAuthError } from "../core/oauth_error.ts";

export const CIMD_BUDGET_WINDOW_MS = 10 * 60_000;
const MAX_ADDRESSES = 10_000;

export interface FetchBudgetLimits {
  /** Fetches per requesting address per window. */
  perAddress: number;
  /** Fetches per server per window. */
  total: number;
}

interface Window {
  count: number;
  resetAt: number;
}

/** The budget key of a peer address: IPv4 as is, IPv6 by its first four groups (/64). */
export function addressKey(ip: string): string {
  const bare = ip.replace(/^\[|\]$/g, "").toLowerCase();
  if (!bare.includes(":") || /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(bare)) {
    return bare.replace(/^::ffff:/, "");
  }
  const [head, tail = ""] = bare.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const zeros = Array(Math.max(8 - headGroups.length - tailGroups.length, 0)).fill("0");
  const groups = bare.includes("::") ? [...headGroups, ...zeros, ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

function tooMany(waitMs: number, where: string): OAuthError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new OAuthError(
    "temporarily_unavailable",
    `Too many client metadata document fetches ${where}; try again in ${seconds} s.`,
    429,
    { "Retry-After": String(seconds) },
  );
}

/** Fixed-window fetch counters: per requesting address and server-wide. */
export class FetchBudget {
  #byAddress = new Map<string, Window>();
  #total: Window = { count: 0, resetAt: 0 };
  constructor(
    readonly limits: FetchBudgetLimits,
    readonly windowMs = CIMD_BUDGET_WINDOW_MS,
  ) {}

  /** Count one fetch for `ip`; throws OAuthError 429 when the address or the server is over. */
  take(ip: string, at = Date.now()): void {
    const key = addressKey(ip);
    let mine = this.#byAddress.get(key);
    if (!mine || mine.resetAt <= at) {
      this.#byAddress.delete(key);
      if (this.#byAddress.size >= MAX_ADDRESSES) {
        const oldest = this.#byAddress.keys().next().value;
        if (oldest !== undefined) this.#byAddress.delete(oldest);
      }
      mine = { count: 0, resetAt: at + this.windowMs };
      this.#byAddress.set(key, mine);
    }
    if (this.#total.resetAt <= at) this.#total = { count: 0, resetAt: at + this.windowMs };
    if (mine.count >= this.limits.perAddress) throw tooMany(mine.resetAt - at, "from your address");
    if (this.#total.count >= this.limits.total) {
      throw tooMany(this.#total.resetAt - at, "on this server");
    }
    mine.count++;
    this.#total.count++;
  }
}
