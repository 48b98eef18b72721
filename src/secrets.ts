/**
 * Encryption of stored Cal.com API keys and webhook secrets, and hashing of API tokens.
 *
 * Stored form: `v1.<iv>.<tag>.<ciphertext>` (base64url parts), AES-256-GCM under SECRETS_KEY.
 * The key never leaves this module; plaintexts are returned only to the code that must use them.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export class SecretBox {
  readonly #key: Buffer;

  constructor(base64Key: string) {
    const key = Buffer.from(base64Key, "base64");
    if (key.length !== 32) throw new Error("SECRETS_KEY must decode to 32 bytes");
    this.#key = key;
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", iv, cipher.getAuthTag(), body].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".");
  }

  decrypt(stored: string): string {
    const [version, iv, tag, body] = stored.split(".");
    if (version !== "v1" || !iv || !tag || body === undefined) throw new Error("unreadable encrypted value");
    const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
  }

  /** A stable, non-reversible name for a secret (e.g. an API key in the shared rate budget). */
  fingerprint(plaintext: string): string {
    return createHmac("sha256", this.#key).update(plaintext).digest("hex").slice(0, 32);
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
