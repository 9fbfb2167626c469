/** SHA-256 of a secret (tokens, codes, keys): what the database stores instead of the secret. */
import { createHash } from "node:crypto";

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url");
}
