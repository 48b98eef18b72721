/**
 * Company API tokens after creation: revocation and the "last used" mark.
 *
 * A token is stored as its SHA-256 only, so a revoked token cannot be revived and a listing can
 * never show one. Revocation takes effect on the next request in every process: `authenticate`
 * reads the row on each request (no cache of valid tokens).
 */
import { db } from "../db/client.ts";
import { NotFoundError } from "./errors.ts";
import { audit } from "./audit.ts";

/** `last_used_at` is written at most this often per token (across every process). */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** Revokes a token (idempotent: a revoked token stays revoked, with its first revocation time). */
export async function revokeApiToken(tokenId: string, actor: string) {
  return db().$transaction(async (tx) => {
    const existing = await tx.apiToken.findUnique({ where: { id: tokenId }, select: { id: true, companyId: true, prefix: true, revokedAt: true } });
    if (!existing) throw new NotFoundError("ApiToken");
    if (existing.revokedAt) return tx.apiToken.findUniqueOrThrow({ where: { id: tokenId } });
    const row = await tx.apiToken.update({ where: { id: tokenId }, data: { revokedAt: new Date() } });
    await audit(existing.companyId, actor, "api_token.revoked", { tokenId, prefix: existing.prefix }, tx);
    return row;
  });
}

/** When this process last wrote `last_used_at` per token, so most requests write nothing at all. */
const lastWritten = new Map<string, number>();

/**
 * Marks a token used, at most once a minute: this process skips the write when it made one less
 * than a minute ago, and the UPDATE's own condition keeps other processes to the same pace.
 * Fire-and-forget: a failed write never fails the request.
 */
export function touchApiToken(tokenId: string, lastUsedAt: Date | null, now = Date.now()): void {
  const seen = Math.max(lastWritten.get(tokenId) ?? 0, lastUsedAt?.getTime() ?? 0);
  if (now - seen < LAST_USED_RESOLUTION_MS) return;
  lastWritten.set(tokenId, now);
  if (lastWritten.size > 10_000) lastWritten.delete(lastWritten.keys().next().value!);
  void db()
    .$executeRaw`UPDATE api_tokens SET last_used_at = now()
                  WHERE id = ${tokenId}::uuid
                    AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000}))`
    .catch(() => lastWritten.delete(tokenId));
}
