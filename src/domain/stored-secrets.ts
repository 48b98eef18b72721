/**
 * The process's SecretBox (SECRETS_KEY, plus SECRETS_KEY_PREVIOUS during a rotation), the
 * start-up check that the key fits what is stored, and `calsync secrets rotate`.
 *
 * Rotation, step by step (README "Security"): give every process SECRETS_KEY=<new> and
 * SECRETS_KEY_PREVIOUS=<old> (both decrypt, new values are written under the new key), run
 * `calsync secrets rotate` (every stored value is re-encrypted under the new key, row by row, each
 * in its own short transaction), then drop SECRETS_KEY_PREVIOUS. Rotating twice is harmless.
 */
import { env } from "../config.ts";
import { ConfigError } from "../config.ts";
import { db } from "../db/client.ts";
import { SecretBox, SecretDecryptError, keyIdOf, secretContext } from "../secrets.ts";

let cached: { key: string; previous: string | undefined; box: SecretBox } | undefined;

/** The SecretBox of the current configuration. */
export function secretBox(): SecretBox {
  const { SECRETS_KEY: key, SECRETS_KEY_PREVIOUS: previous } = env();
  if (!key) throw new Error("SECRETS_KEY is not configured");
  if (cached?.key !== key || cached.previous !== previous) cached = { key, previous, box: new SecretBox(key, previous) };
  return cached.box;
}

/** How many stored values the start-up check tries (newest first, of each kind). */
const CHECK_SAMPLE = 5;

/**
 * Refuses to start when SECRETS_KEY (and SECRETS_KEY_PREVIOUS) decrypts none of a sample of the
 * stored values: with a wrong key every webhook would answer 401 and every sync fail, with no
 * clear cause. One line, naming the variable.
 */
export async function checkSecretsKey(): Promise<void> {
  const box = secretBox();
  const connections = await db().calcomConnection.findMany({
    select: { companyId: true, apiKeyEncrypted: true },
    orderBy: { connectedAt: "desc" },
    take: CHECK_SAMPLE,
  });
  const secrets = await db().webhookSecret.findMany({
    select: { id: true, companyId: true, secretEncrypted: true },
    orderBy: { createdAt: "desc" },
    take: CHECK_SAMPLE,
  });
  const samples = [
    ...connections.map((c) => ({ stored: c.apiKeyEncrypted, context: secretContext("calcom_api_key", c.companyId) })),
    ...secrets.map((s) => ({ stored: s.secretEncrypted, context: secretContext("webhook_secret", s.companyId, s.id) })),
  ];
  if (samples.length === 0) return;
  const storedIds = new Set<string>();
  for (const { stored, context } of samples) {
    try {
      box.decrypt(stored, context);
      return; // one value decrypts: the key is right (a single bad row is logged where it is used)
    } catch (err) {
      if (!(err instanceof SecretDecryptError)) throw err;
      storedIds.add(SecretBox.keyIdOfStored(stored) ?? "v1");
    }
  }
  throw new ConfigError(
    `invalid configuration: SECRETS_KEY does not decrypt the stored Cal.com keys and webhook secrets ` +
      `(configured key id ${box.keyId}, stored under ${[...storedIds].join(", ")}); ` +
      "set SECRETS_KEY to the key they were encrypted with (during a rotation: SECRETS_KEY_PREVIOUS)",
  );
}

export interface RotateResult {
  keyId: string;
  rewrapped: number;
  alreadyCurrent: number;
  /** Values no configured key decrypts (left untouched), by table and row id. */
  failed: { table: "calcom_connections" | "webhook_secrets"; id: string }[];
}

/** Re-encrypts every stored secret under SECRETS_KEY (and re-computes the key fingerprints). */
export async function rotateSecrets(onProgress?: (done: number, total: number) => void): Promise<RotateResult> {
  const box = secretBox();
  const result: RotateResult = { keyId: box.keyId, rewrapped: 0, alreadyCurrent: 0, failed: [] };
  const connectionIds = (await db().calcomConnection.findMany({ select: { companyId: true }, orderBy: { companyId: "asc" } })).map((c) => c.companyId);
  const secretIds = (await db().webhookSecret.findMany({ select: { id: true }, orderBy: { id: "asc" } })).map((s) => s.id);
  const total = connectionIds.length + secretIds.length;
  let done = 0;

  for (const companyId of connectionIds) {
    await db().$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ api_key_encrypted: string }[]>`
        SELECT api_key_encrypted FROM calcom_connections WHERE company_id = ${companyId}::uuid FOR UPDATE`;
      if (!row) return;
      const context = secretContext("calcom_api_key", companyId);
      let plaintext: string;
      try {
        plaintext = box.decrypt(row.api_key_encrypted, context);
      } catch {
        result.failed.push({ table: "calcom_connections", id: companyId });
        return;
      }
      // The fingerprint is keyed too; recomputing it keeps "same key?" comparisons working.
      const fingerprint = box.fingerprint(plaintext);
      if (!box.needsRewrap(row.api_key_encrypted)) {
        result.alreadyCurrent++;
        await tx.calcomConnection.update({ where: { companyId }, data: { apiKeyFingerprint: fingerprint } });
        return;
      }
      await tx.calcomConnection.update({
        where: { companyId },
        data: { apiKeyEncrypted: box.encrypt(plaintext, context), apiKeyFingerprint: fingerprint },
      });
      result.rewrapped++;
    });
    onProgress?.(++done, total);
  }

  for (const id of secretIds) {
    await db().$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ company_id: string; secret_encrypted: string }[]>`
        SELECT company_id::text AS company_id, secret_encrypted FROM webhook_secrets WHERE id = ${id}::uuid FOR UPDATE`;
      if (!row) return;
      const context = secretContext("webhook_secret", row.company_id, id);
      if (!box.needsRewrap(row.secret_encrypted)) {
        result.alreadyCurrent++;
        return;
      }
      let plaintext: string;
      try {
        plaintext = box.decrypt(row.secret_encrypted, context);
      } catch {
        result.failed.push({ table: "webhook_secrets", id });
        return;
      }
      await tx.webhookSecret.update({ where: { id }, data: { secretEncrypted: box.encrypt(plaintext, context) } });
      result.rewrapped++;
    });
    onProgress?.(++done, total);
  }
  return result;
}

export { keyIdOf };
