/**
 * Webhook signing secrets of a company: stored encrypted (SecretBox, SECRETS_KEY), several active
 * at once while a secret is rotated. A secret whose `expiresAt` has passed verifies nothing.
 *
 * `activeSecrets` is on the hot path of every webhook delivery, so it keeps the decrypted secrets
 * of a company in-process for a few seconds. `addWebhookSecret` drops the entry of this process;
 * other processes see the change when their entry expires (at most SECRET_CACHE_TTL_MS later).
 * Expiry is checked on every read, so an expired secret stops verifying at once, cached or not.
 */
import { LRUCache } from "lru-cache";
import type { Prisma } from "../generated/prisma/client.ts";
import { db, inboxPool } from "../db/client.ts";
import { log } from "../log.ts";
import { secretContext } from "../secrets.ts";
import { uuidv7 } from "../db/uuid.ts";
import { secretBox } from "./stored-secrets.ts";
import { NotFoundError, UserInputError } from "./errors.ts";
import { audit } from "./audit.ts";

type Tx = Prisma.TransactionClient;

/** How long decrypted secrets stay cached in-process (Default: 5 s). */
export const SECRET_CACHE_TTL_MS = 5_000;

/** Longest accepted secret; Cal.com's own are far shorter. */
const MAX_SECRET_LENGTH = 4096;

interface CachedSecret {
  plaintext: string;
  /** Epoch ms, or null for "never". */
  expiresAt: number | null;
}

async function loadSecrets(companyId: string): Promise<CachedSecret[]> {
  // On the ingest pool (db/client.ts), so GraphQL load on the main pool cannot delay webhooks.
  const { rows } = await inboxPool().query<{ id: string; secret_encrypted: string; expires_at: Date | null }>(
    `SELECT id::text AS id, secret_encrypted, expires_at FROM webhook_secrets
      WHERE company_id = $1::uuid AND (expires_at IS NULL OR expires_at > now())
      ORDER BY created_at DESC`,
    [companyId],
  );
  const box = secretBox();
  const secrets: CachedSecret[] = [];
  for (const row of rows) {
    try {
      secrets.push({
        plaintext: box.decrypt(row.secret_encrypted, secretContext("webhook_secret", companyId, row.id)),
        expiresAt: row.expires_at?.getTime() ?? null,
      });
    } catch {
      // A secret stored under another SECRETS_KEY cannot verify anything; say so without failing.
      log("webhook").warn({ companyId, secretId: row.id }, "webhook secret cannot be decrypted with SECRETS_KEY");
    }
  }
  return secrets;
}

// `fetch` shares one load between concurrent deliveries; `delete` aborts a load in flight, so an
// invalidation is never overwritten by a load that started before it.
// maxSize (one unit per company) rather than max: the same bound, without lru-cache preallocating
// arrays for every possible entry in every process (see also `unknown` below).
const cache = new LRUCache<string, CachedSecret[]>({
  maxSize: 10_000,
  sizeCalculation: () => 1,
  ttl: SECRET_CACHE_TTL_MS,
  fetchMethod: (companyId) => loadSecrets(companyId),
});

/** How long "no such company / no active secret" is remembered (Default: 10 s). */
export const UNKNOWN_CACHE_TTL_MS = 10_000;

/**
 * Negative cache, apart from the real entries: a flood of random company ids fills this one and
 * can never evict the secrets of real companies (nor cost a read per repeated id).
 */
const unknown = new LRUCache<string, true>({ maxSize: 100_000, sizeCalculation: () => 1, ttl: UNKNOWN_CACHE_TTL_MS });

function usable(secrets: CachedSecret[]): string[] {
  const now = Date.now();
  return secrets.filter((s) => s.expiresAt === null || s.expiresAt > now).map((s) => s.plaintext);
}

/** How long before its entry expires a delivery reloads a company's secrets in the background (Default: 1 s). */
export const SECRET_REFRESH_AHEAD_MS = 1_000;

/**
 * The company's cached secrets, reloaded ahead of expiry: in the last SECRET_REFRESH_AHEAD_MS of
 * an entry's life, a delivery starts the reload and is answered from the entry, which is still
 * within its TTL. Without this, every delivery arriving once the entry had expired waited for the
 * reload, and the reload waited behind every statement queued on the ingest pool: a stall of the
 * whole ingest path every SECRET_CACHE_TTL_MS under load (the bench's p99). An entry past its TTL
 * is never served: `fetch` without `allowStale` waits for the reload, as before.
 */
function cachedOrLoad(companyId: string): Promise<CachedSecret[] | undefined> {
  const remaining = cache.getRemainingTTL(companyId); // 0 when absent, ≤ 0 once expired
  if (remaining > 0 && remaining <= SECRET_REFRESH_AHEAD_MS) return cache.fetch(companyId, { forceRefresh: true, allowStale: true });
  return cache.fetch(companyId);
}

/** The decrypted plaintexts of the company's unexpired secrets (empty for an unknown company). */
export async function activeSecrets(companyId: string): Promise<string[]> {
  if (unknown.has(companyId)) return [];
  const secrets = (await cachedOrLoad(companyId)) ?? [];
  if (secrets.length === 0) {
    cache.delete(companyId);
    unknown.set(companyId, true);
  }
  return usable(secrets);
}

/** The secrets if this process holds them (positively or negatively) right now, without any I/O. */
export function cachedSecrets(companyId: string): string[] | undefined {
  if (unknown.has(companyId)) return [];
  const secrets = cache.get(companyId);
  return secrets ? usable(secrets) : undefined;
}

/** How often the set of existing company ids is re-read for `isKnownCompany` (Default: 30 s). */
export const KNOWN_COMPANIES_TTL_MS = 30_000;

let known: { at: number; ids: Set<string> } | undefined;
let loadingKnown: Promise<Set<string>> | undefined;

/**
 * Whether a company with this id exists, from a set of every company id re-read at most every
 * KNOWN_COMPANIES_TTL_MS (one cheap query shared by all callers). Used only while an address is
 * blocked: a real company's delivery is still verified, a random id costs no database read.
 */
export async function isKnownCompany(companyId: string): Promise<boolean> {
  if (!known || Date.now() - known.at >= KNOWN_COMPANIES_TTL_MS) {
    loadingKnown ??= inboxPool()
      .query<{ id: string }>("SELECT id::text AS id FROM companies")
      .then(({ rows }) => {
        known = { at: Date.now(), ids: new Set(rows.map((r) => r.id)) };
        return known.ids;
      })
      .finally(() => {
        loadingKnown = undefined;
      });
    await loadingKnown;
  }
  return known!.ids.has(companyId);
}

/** Forgets cached secrets (one company, or all), e.g. after a change made outside this module. */
export function invalidateWebhookSecrets(companyId?: string): void {
  if (companyId === undefined) {
    cache.clear();
    unknown.clear();
    known = undefined;
  } else {
    cache.delete(companyId);
    unknown.delete(companyId);
  }
}

/**
 * Stores a new signing secret for the company (encrypted). With `expiresOldAfterSeconds`, the
 * company's currently active secrets expire that many seconds from now (0 = at once); without
 * it they stay active, so Cal.com can be switched over at leisure. The audit entry never holds
 * the secret. With `tx`, the caller's transaction is used (the cache is dropped right away; other
 * readers may cache the pre-commit state for up to SECRET_CACHE_TTL_MS).
 */
export async function addWebhookSecret(
  companyId: string,
  secret: string,
  expiresOldAfterSeconds: number | null | undefined,
  actor: string,
  tx?: Tx,
): Promise<{ id: string; expiredCount: number }> {
  if (secret.length === 0 || secret.length > MAX_SECRET_LENGTH) {
    throw new UserInputError(`secret must be 1 to ${MAX_SECRET_LENGTH} characters.`, "secret");
  }
  if (
    expiresOldAfterSeconds !== null &&
    expiresOldAfterSeconds !== undefined &&
    (!Number.isSafeInteger(expiresOldAfterSeconds) || expiresOldAfterSeconds < 0)
  ) {
    throw new UserInputError("expiresOldAfterSeconds must be a whole number of seconds, 0 or more.", "expiresOldAfterSeconds");
  }
  // The id is made here, so the ciphertext can be bound to its own row (associated data).
  const secretId = uuidv7();
  const encrypted = secretBox().encrypt(secret, secretContext("webhook_secret", companyId, secretId));

  const write = async (t: Tx) => {
    const company = await t.company.findUnique({ where: { id: companyId }, select: { id: true } });
    if (!company) throw new NotFoundError("Company");
    let expiredCount = 0;
    let expiresOldAt: Date | null = null;
    if (expiresOldAfterSeconds !== null && expiresOldAfterSeconds !== undefined) {
      const now = new Date();
      expiresOldAt = new Date(now.getTime() + expiresOldAfterSeconds * 1000);
      // Only secrets still active now; one that already expires sooner keeps its earlier expiry.
      const { count } = await t.webhookSecret.updateMany({
        where: { companyId, OR: [{ expiresAt: null }, { expiresAt: { gt: expiresOldAt } }] },
        data: { expiresAt: expiresOldAt },
      });
      expiredCount = count;
    }
    const row = await t.webhookSecret.create({ data: { id: secretId, companyId, secretEncrypted: encrypted }, select: { id: true } });
    await audit(
      companyId,
      actor,
      "webhook_secret.added",
      { secretId: row.id, expiresOldAt: expiresOldAt?.toISOString() ?? null, expiringSecrets: expiredCount },
      t,
    );
    return { id: row.id, expiredCount };
  };

  try {
    return tx ? await write(tx) : await db().$transaction(write);
  } finally {
    invalidateWebhookSecrets(companyId);
  }
}
