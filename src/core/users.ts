/**
 * Users: local accounts (email + scrypt password).
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { newSId } from "../util/ids.ts";
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "../auth/passwords.ts";
import type { UserRef } from "../auth/actor.ts";

export interface UserRow {
  id: number;
  sId: string;
  email: string;
  username: string;
  firstName: string;
  lastName: string | null;
  imageUrl: string | null;
  passwordHash: string | null;
  passwordChangedAt: number | null;
  isInstanceAdmin: boolean;
  createdAt: number;
  updatedAt: number;
}

const COLUMNS =
  "id, s_id, email, username, first_name, last_name, image_url, password_hash, password_changed_at, is_instance_admin, created_at, updated_at";

// deno-lint-ignore no-explicit-any
function fromRow(r: any): UserRow {
  return {
    id: r.id,
    sId: r.s_id,
    email: r.email,
    username: r.username,
    firstName: r.first_name,
    lastName: r.last_name,
    imageUrl: r.image_url,
    passwordHash: r.password_hash,
    passwordChangedAt: r.password_changed_at,
    isInstanceAdmin: r.is_instance_admin === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toUserRef(u: UserRow): UserRef {
  return {
    id: u.id,
    sId: u.sId,
    email: u.email,
    username: u.username,
    firstName: u.firstName,
    lastName: u.lastName,
    imageUrl: u.imageUrl,
  };
}

const EMAIL = /^[^\s@<>()",;:]{1,64}@[^\s@<>()",;:]{1,255}\.[^\s@<>()",;:]{1,63}$/;

export function normaliseEmail(email: string): string {
  const e = email.trim().toLowerCase();
  if (e.length > 320 || !EMAIL.test(e)) {
    throw invalid(`email: "${email}" is not a valid email address`);
  }
  return e;
}

export function validatePassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw invalid(`password: must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw invalid(`password: must be at most ${MAX_PASSWORD_LENGTH} characters`);
  }
}

function splitName(name: string): { first: string; last: string | null } {
  const clean = name.trim().replace(/\s+/g, " ");
  if (clean.length === 0 || clean.length > 255) throw invalid("name: must be 1 to 255 characters");
  const i = clean.indexOf(" ");
  return i < 0
    ? { first: clean, last: null }
    : { first: clean.slice(0, i), last: clean.slice(i + 1) };
}

export interface CreateUserInput {
  email: string;
  name: string;
  password: string | null;
  isInstanceAdmin?: boolean;
}

/** Create a user. The password is hashed before the write (scrypt is async). */
export async function createUser(db: Db, input: CreateUserInput): Promise<UserRow> {
  const email = normaliseEmail(input.email);
  const { first, last } = splitName(input.name);
  let hash: string | null = null;
  if (input.password !== null) {
    validatePassword(input.password);
    hash = await hashPassword(input.password);
  }
  if (await findUserByEmail(db, email)) {
    throw new AppError(409, "conflict", `A user with email ${email} already exists.`);
  }
  const t = now();
  const row = await db.get(
    `INSERT INTO users (s_id, email, username, first_name, last_name, password_hash, password_changed_at, is_instance_admin, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
    newSId(),
    email,
    email.split("@")[0],
    first,
    last,
    hash,
    hash ? t : null,
    input.isInstanceAdmin ? 1 : 0,
    t,
    t,
  );
  return fromRow(row);
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | null> {
  const r = await db.get(
    `SELECT ${COLUMNS} FROM users WHERE email = ?`,
    email.trim().toLowerCase(),
  );
  return r ? fromRow(r) : null;
}

export async function findUserById(db: Db, id: number): Promise<UserRow | null> {
  const r = await db.get(`SELECT ${COLUMNS} FROM users WHERE id = ?`, id);
  return r ? fromRow(r) : null;
}

export async function findUserBySId(db: Db, sId: string): Promise<UserRow | null> {
  const r = await db.get(`SELECT ${COLUMNS} FROM users WHERE s_id = ?`, sId);
  return r ? fromRow(r) : null;
}

export async function countUsers(db: Db): Promise<number> {
  return (await db.get("SELECT count(*) AS n FROM users") as { n: number }).n;
}

/**
 * Store a stronger hash of the same password (sign-in, when {@link needsRehash} says the
 * stored one is below the current cost). Not a password change: nothing is revoked and
 * `password_changed_at` stays. Only replaces `oldHash`, so a password changed meanwhile wins.
 */
export async function upgradePasswordHash(
  db: Db,
  input: { userId: number; oldHash: string; password: string },
): Promise<boolean> {
  const hash = await hashPassword(input.password);
  const r = await db.run(
    "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
    hash,
    input.userId,
    input.oldHash,
  );
  return r.changes === 1;
}

/** Replace a user's password hash (callers revoke the user's grants and tokens alongside). */
export async function setPasswordHash(db: Db, userId: number, password: string): Promise<void> {
  validatePassword(password);
  const hash = await hashPassword(password);
  const t = now();
  await db.run(
    "UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE id = ?",
    hash,
    t,
    t,
    userId,
  );
}
