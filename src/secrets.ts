/**
 * Encryption of stored Cal.com API keys and webhook secrets, and hashing of API tokens.
 *
 * Stored form (v2): `v2.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts), AES-256-GCM under
 * SECRETS_KEY with
 * - a 12-byte random IV and the FULL 16-byte tag: a shorter tag is refused before decryption
 *   (GCM would otherwise accept a truncated tag, e.g. 4 bytes, which is forgeable);
 * - associated data naming the row and company the value belongs to (`context`), so a
 *   ciphertext copied into another row or company does not decrypt (see `secretContext`);
 * - a key id (the first 8 bytes of HMAC-SHA256(key, "calsync key id"), hex), so a value says which
 *   key it needs without revealing anything of it: rotation (`SECRETS_KEY_PREVIOUS`,
 *   `calsync secrets rotate`) and the start-up check of a wrong key rely on it.
 *
 * Migration path: values written before v2 (`v1.<iv>.<tag>.<ciphertext>`, no key id, no
 * associated data) still decrypt, under SECRETS_KEY or SECRETS_KEY_PREVIOUS, with the same
 * 16-byte tag rule; `calsync secrets rotate` rewrites them as v2.
 *
 * The keys never leave this module; plaintexts are returned only to the code that must use them.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const TAG_BYTES = 16;
const IV_BYTES = 12;

/** The value cannot be decrypted with any configured key (wrong key, tampered, moved to another row). */
export class SecretDecryptError extends Error {
  override name = "SecretDecryptError";
}

/** Names a key without revealing it. */
export function keyIdOf(key: Buffer): string {
  return createHmac("sha256", key).update("calsync key id").digest("hex").slice(0, 16);
}

/** The associated data of one stored secret: which column of which row of which company. */
export function secretContext(column: "calcom_api_key" | "webhook_secret", companyId: string, rowId: string = companyId): string {
  return `calsync:${column}:${companyId.toLowerCase()}:${rowId.toLowerCase()}`;
}

function decodeKey(base64Key: string, name: string): Buffer {
  const key = Buffer.from(base64Key, "base64");
  if (key.length !== 32) throw new Error(`${name} must decode to 32 bytes`);
  return key;
}

export class SecretBox {
  readonly #key: Buffer;
  readonly #keyId: string;
  readonly #previous: Buffer | undefined;
  readonly #previousId: string | undefined;

  /** `previousKey` (SECRETS_KEY_PREVIOUS) only decrypts; everything is encrypted under `base64Key`. */
  constructor(base64Key: string, previousKey?: string) {
    this.#key = decodeKey(base64Key, "SECRETS_KEY");
    this.#keyId = keyIdOf(this.#key);
    if (previousKey) {
      this.#previous = decodeKey(previousKey, "SECRETS_KEY_PREVIOUS");
      this.#previousId = keyIdOf(this.#previous);
    }
  }

  /** The id of the key new values are encrypted under. */
  get keyId(): string {
    return this.#keyId;
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v2", this.#keyId, ...[iv, cipher.getAuthTag(), body].map((b) => b.toString("base64url"))].join(".");
  }

  /** The plaintext, or a `SecretDecryptError` (never a hint of the plaintext or the key). */
  decrypt(stored: string, context: string): string {
    const parts = stored.split(".");
    if (parts[0] === "v2" && parts.length === 5) {
      const [, keyId, iv, tag, body] = parts as [string, string, string, string, string];
      const key = keyId === this.#keyId ? this.#key : keyId === this.#previousId ? this.#previous : undefined;
      if (!key) throw new SecretDecryptError(`encrypted under another key (key id ${keyId}); set SECRETS_KEY or SECRETS_KEY_PREVIOUS to it`);
      return open(key, iv, tag, body, context);
    }
    if (parts[0] === "v1" && parts.length === 4) {
      const [, iv, tag, body] = parts as [string, string, string, string];
      for (const key of [this.#key, this.#previous]) {
        if (!key) continue;
        try {
          return open(key, iv, tag, body, null);
        } catch {
          // try the next key
        }
      }
      throw new SecretDecryptError("a v1 value that neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS decrypts");
    }
    throw new SecretDecryptError("unreadable encrypted value");
  }

  /** The key id a stored value names (v2), or null (v1, unreadable). */
  static keyIdOfStored(stored: string): string | null {
    const parts = stored.split(".");
    return parts[0] === "v2" && parts.length === 5 ? parts[1]! : null;
  }

  /** True when the value is not yet v2 under the current key (what `secrets rotate` rewrites). */
  needsRewrap(stored: string): boolean {
    return SecretBox.keyIdOfStored(stored) !== this.#keyId;
  }

  /** A stable, non-reversible name for a secret (e.g. an API key in the shared rate budget). */
  fingerprint(plaintext: string): string {
    return createHmac("sha256", this.#key).update(plaintext).digest("hex").slice(0, 32);
  }
}

function open(key: Buffer, iv64: string, tag64: string, body64: string, context: string | null): string {
  const iv = Buffer.from(iv64, "base64url");
  const tag = Buffer.from(tag64, "base64url");
  // GCM verifies however many tag bytes it is given; only the full tag proves anything.
  if (tag.length !== TAG_BYTES || iv.length !== IV_BYTES) throw new SecretDecryptError("malformed encrypted value");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    if (context !== null) decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(body64, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw new SecretDecryptError("encrypted value failed authentication (wrong key, or moved from another row)");
  }
}

export const TOKEN_PREFIX = "csk_";

/** A new company API token: the plaintext (shown once) and what is stored. */
export function newApiToken(): { token: string; hash: string; prefix: string } {
  const token = TOKEN_PREFIX + randomBytes(24).toString("base64url");
  return { token, hash: hashToken(token), prefix: token.slice(0, TOKEN_PREFIX.length + 6) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Constant-time string equality (for the admin token). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function randomSecretsKey(): string {
  return randomBytes(32).toString("base64");
}

export function randomAdminToken(): string {
  return randomBytes(24).toString("hex");
}
