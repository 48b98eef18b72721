/**
 * Who is calling. The admin token (ADMIN_TOKEN) sees every company; a company token (created by
 * `createApiToken`, stored as a SHA-256 hash) sees its own company only.
 */
import { db } from "../db/client.ts";
import { touchApiToken } from "../domain/api-tokens.ts";
import { hashToken, safeEqual, TOKEN_PREFIX } from "../secrets.ts";

export type Principal =
  | { kind: "admin" }
  | { kind: "company"; companyId: string; tokenId: string };

export function canSeeCompany(principal: Principal, companyId: string | null | undefined): boolean {
  if (principal.kind === "admin") return true;
  return !!companyId && principal.companyId === companyId;
}

/** Resolves an `Authorization` header to a principal, or null when it is missing or unknown. */
export async function authenticate(header: string | null | undefined, adminToken: string): Promise<Principal | null> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  const token = match?.[1];
  if (!token) return null;
  if (!token.startsWith(TOKEN_PREFIX)) return safeEqual(token, adminToken) ? { kind: "admin" } : null;
  const row = await db().apiToken.findUnique({
    where: { tokenHash: hashToken(token) },
    select: { id: true, companyId: true, revokedAt: true, lastUsedAt: true },
  });
  if (!row || row.revokedAt) return null;
  touchApiToken(row.id, row.lastUsedAt);
  return { kind: "company", companyId: row.companyId, tokenId: row.id };
}
