/**
 * Identifiers in Dust's formats (`../reference/dust.md` §4.2): 10-character random
 * `[A-Za-z0-9]` sIds for workspaces, users, conversations, messages and agents, and
 * `<prefix>_<random>` sIds for resources (`fil_`, `vlt_`, `dts_`, `dsv_`, `msv_`, `grp_`, ...).
 * @module
 */
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A random base-62 string, unbiased (rejection sampling). */
export function randomString(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += ALPHABET[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A legacy Dust sId: 10 random base-62 characters. */
export function newSId(): string {
  return randomString(10);
}

export type ResourcePrefix =
  | "fil"
  | "vlt"
  | "grp"
  | "dts"
  | "dsv"
  | "msv"
  | "pmd"
  | "tsk"
  | "act"
  | "key"
  | "pat"
  | "mtk"
  | "gnt";

/** A resource sId such as `fil_1a2B3c4D5e6F`. */
export function newResourceId(prefix: ResourcePrefix): string {
  return `${prefix}_${randomString(12)}`;
}

/** A high-entropy secret (256 bits) in base64url, with an optional readable prefix. */
export function newSecret(prefix = ""): string {
  return prefix + randomBytes(32).toString("base64url");
}
