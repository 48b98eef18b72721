/**
 * Cal.com webhook signatures: lowercase hex HMAC-SHA256 of the exact request body bytes, sent in
 * `X-Cal-Signature-256`. No prefix, no timestamp. A sender without a secret sends the literal
 * `no-secret-provided`, which never verifies here.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Header name as Node/Fastify expose it (lower-cased). */
export const SIGNATURE_HEADER = "x-cal-signature-256";

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Lowercase hex HMAC-SHA256 of `body` under `secret`; a string body is hashed as UTF-8. */
export function signBody(secret: string, body: Buffer | string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

/**
 * True only if `header` is exactly 64 lowercase hex chars and equals the HMAC of the raw `body`
 * under at least one of `secrets`. Every (non-empty) secret is checked with a constant-time
 * compare; the loop does not stop at the first match, so timing does not reveal which one matched.
 */
export function verifySignature(body: Buffer, header: string | undefined, secrets: readonly string[]): boolean {
  if (typeof header !== "string" || !HEX_SHA256.test(header)) return false;
  const given = Buffer.from(header, "hex");
  let ok = false;
  for (const secret of secrets) {
    // An empty secret means "not configured": Cal.com would send `no-secret-provided` instead.
    if (typeof secret !== "string" || secret.length === 0) continue;
    const expected = createHmac("sha256", secret).update(body).digest();
    // Both are 32 bytes here (the regex fixes the header's length), so timingSafeEqual cannot throw.
    const match = timingSafeEqual(expected, given);
    ok = ok || match;
  }
  return ok;
}
