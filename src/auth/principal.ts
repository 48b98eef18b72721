/**
 * Who is calling. The admin token (ADMIN_TOKEN) sees every company; a company token (created by
 * `createApiToken`, stored as a SHA-256 hash) sees its own company only.
 */
import { pool } from "../db/client.ts";
import { touchApiToken } from "../domain/api-tokens.ts";
import { hashToken, safeEqual, TOKEN_PREFIX } from "../secrets.ts";

export type Principal =
  | { kind: "admin" }
  | { kind: "company"; companyId: string; tokenId: string };

export function canSeeCompany(principal: Principal, companyId: string | null | undefined): boolean {
  if (principal.kind === "admin") return true;
  return !!companyId && principal.companyId === companyId;
}

/**
 * Resolves an `Authorization` header to a principal, or null when it is missing or unknown.
 * A company token is looked up on every request (no cache): a revoked token stops working at
 * once, in every process. The lookup is one indexed statement on the pg pool (the unique index on
 * token_hash), not a Prisma query.
 */
export async function authenticate(header: string | null | undefined, adminToken: string): Promise<Principal | null> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  const token = match?.[1];
  if (!token) return null;
  if (!token.startsWith(TOKEN_PREFIX)) return safeEqual(token, adminToken) ? { kind: "admin" } : null;
  const { rows } = await pool().query<{ id: string; companyId: string; revokedAt: Date | null; lastUsedAt: Date | null }>(
    `SELECT id, company_id AS "companyId", revoked_at AS "revokedAt", last_used_at AS "lastUsedAt" FROM api_tokens WHERE token_hash = $1`,
    [hashToken(token)],
  );
  const row = rows[0];
  if (!row || row.revokedAt) return null;
  touchApiToken(row.id, row.lastUsedAt);
  return { kind: "company", companyId: row.companyId, tokenId: row.id };
}
