/**
 * Stored secrets: AES-256-GCM with the full tag, bound to their row and company, with a key id;
 * values written before (v1) still work; SECRETS_KEY_PREVIOUS + `calsync secrets rotate`
 * re-encrypts everything; a wrong SECRETS_KEY stops start-up with one clear line.
 */
import { execFile } from "node:child_process";
import { createCipheriv, randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEnv, setEnv } from "../src/config.ts";
import { db } from "../src/db/client.ts";
import { invalidateWebhookSecrets } from "../src/domain/webhook-secrets.ts";
import { SecretBox, keyIdOf, secretContext } from "../src/secrets.ts";
import { connectCompany, createCompany, createWebhookSecret } from "./factories.ts";
import { bookingCreated } from "./fixtures/webhooks.ts";
import { ADMIN_TOKEN, SECRETS_KEY, startTestApp, type TestApp } from "./support/app.ts";
import { deliver, scopedPath } from "./support/webhooks.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const NEW_KEY = Buffer.alloc(32, 9).toString("base64");
const WRONG_KEY = Buffer.alloc(32, 3).toString("base64");

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

/** What the first wave wrote: `v1.<iv>.<tag>.<ciphertext>`, no key id, no associated data. */
function v1Encrypt(base64Key: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(base64Key, "base64"), iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return ["v1", iv, cipher.getAuthTag(), body].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".");
}

function useKeys(key: string, previous?: string) {
  setEnv(parseEnv({ DATABASE_URL: t.databaseUrl, ADMIN_TOKEN, SECRETS_KEY: key, LOG_LEVEL: "silent", ...(previous ? { SECRETS_KEY_PREVIOUS: previous } : {}) }));
  invalidateWebhookSecrets();
}

function cli(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      { cwd: root, env: { PATH: process.env["PATH"], DATABASE_URL: t.databaseUrl, ADMIN_TOKEN, LOG_LEVEL: "silent", ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("SecretBox", () => {
  const box = new SecretBox(SECRETS_KEY);
  const ctx = secretContext("webhook_secret", randomUUID(), randomUUID());

  it("writes v2 with a key id that names the key without revealing it", () => {
    const stored = box.encrypt("whsec_plain", ctx);
    const [version, keyId, , tag] = stored.split(".");
    expect(version).toBe("v2");
    expect(keyId).toBe(keyIdOf(Buffer.from(SECRETS_KEY, "base64")));
    expect(Buffer.from(tag!, "base64url")).toHaveLength(16);
    expect(box.decrypt(stored, ctx)).toBe("whsec_plain");
  });

  it("refuses a truncated tag (4 bytes decrypted before), in v2 and in v1", () => {
    const v2 = box.encrypt("whsec_plain", ctx).split(".");
    v2[3] = Buffer.from(v2[3]!, "base64url").subarray(0, 4).toString("base64url");
    expect(() => box.decrypt(v2.join("."), ctx)).toThrow(/malformed/);
    const v1 = v1Encrypt(SECRETS_KEY, "whsec_plain").split(".");
    v1[2] = Buffer.from(v1[2]!, "base64url").subarray(0, 4).toString("base64url");
    expect(() => box.decrypt(v1.join("."), ctx)).toThrow(/neither SECRETS_KEY/);
  });

  it("binds a value to its row and company: elsewhere it does not decrypt", () => {
    const stored = box.encrypt("whsec_plain", ctx);
    expect(() => box.decrypt(stored, secretContext("webhook_secret", randomUUID(), randomUUID()))).toThrow(/authentication/);
    expect(() => box.decrypt(stored, secretContext("calcom_api_key", randomUUID()))).toThrow(/authentication/);
  });

  it("still reads v1 values (the migration path)", () => {
    expect(box.decrypt(v1Encrypt(SECRETS_KEY, "cal_live_old"), ctx)).toBe("cal_live_old");
  });
});

describe("stored secrets through the app", () => {
  it("a webhook secret copied into another company's row verifies nothing there", async () => {
    useKeys(SECRETS_KEY);
    const a = await createCompany();
    const b = await createCompany();
    const secretA = await createWebhookSecret(a.id, "secret-of-company-a-0123456789");
    const rowA = await db().webhookSecret.findFirstOrThrow({ where: { companyId: a.id } });
    // An attacker with write access to one column copies A's ciphertext into a row of B.
    const forged = await db().webhookSecret.create({ data: { companyId: b.id, secretEncrypted: rowA.secretEncrypted } });
    invalidateWebhookSecrets();
    expect((await deliver(t, scopedPath(a.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret: secretA })).status).toBe(202);
    expect((await deliver(t, scopedPath(b.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret: secretA })).status).toBe(401);
    // `secrets rotate` would report it as undecryptable and leave it; the next test rotates everything.
    await db().webhookSecret.delete({ where: { id: forged.id } });
  });

  it("rotates: old values (v1 and v2) keep working with SECRETS_KEY_PREVIOUS, `secrets rotate` re-encrypts them all, then the old key can go", async () => {
    useKeys(SECRETS_KEY);
    const legacy = await createCompany();
    const legacySecret = "legacy-v1-webhook-secret-0123456789";
    await db().webhookSecret.create({ data: { companyId: legacy.id, secretEncrypted: v1Encrypt(SECRETS_KEY, legacySecret) } });
    await db().calcomConnection.create({
      data: { companyId: legacy.id, apiKeyEncrypted: v1Encrypt(SECRETS_KEY, "cal_test_legacy"), apiKeyFingerprint: "x", ownershipVerifiedAt: new Date() },
    });
    const current = await createCompany();
    const currentSecret = await createWebhookSecret(current.id);
    await connectCompany(current.id, "cal_test_current");

    // Every process gets the new key, with the old one as SECRETS_KEY_PREVIOUS.
    useKeys(NEW_KEY, SECRETS_KEY);
    for (const [c, secret] of [[legacy, legacySecret], [current, currentSecret]] as const) {
      expect((await deliver(t, scopedPath(c.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret })).status).toBe(202);
    }

    const run = await cli({ SECRETS_KEY: NEW_KEY, SECRETS_KEY_PREVIOUS: SECRETS_KEY }, "secrets", "rotate", "--json");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ keyId: keyIdOf(Buffer.from(NEW_KEY, "base64")), failed: [] });
    expect(result.rewrapped).toBeGreaterThanOrEqual(4);

    const newId = keyIdOf(Buffer.from(NEW_KEY, "base64"));
    for (const row of await db().webhookSecret.findMany()) expect(SecretBox.keyIdOfStored(row.secretEncrypted)).toBe(newId);
    for (const row of await db().calcomConnection.findMany()) expect(SecretBox.keyIdOfStored(row.apiKeyEncrypted)).toBe(newId);
    const box = new SecretBox(NEW_KEY);
    const conn = await db().calcomConnection.findUniqueOrThrow({ where: { companyId: legacy.id } });
    expect(box.decrypt(conn.apiKeyEncrypted, secretContext("calcom_api_key", legacy.id))).toBe("cal_test_legacy");
    expect(conn.apiKeyFingerprint).toBe(box.fingerprint("cal_test_legacy"));

    // Rotating again changes nothing; then the old key is dropped and everything still verifies.
    const again = JSON.parse((await cli({ SECRETS_KEY: NEW_KEY }, "secrets", "rotate", "--json")).stdout);
    expect(again.rewrapped).toBe(0);
    useKeys(NEW_KEY);
    for (const [c, secret] of [[legacy, legacySecret], [current, currentSecret]] as const) {
      expect((await deliver(t, scopedPath(c.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret })).status).toBe(202);
    }

    // A wrong key stops start-up with one line that names the variable (exit 78), before any work.
    const wrong = await cli({ SECRETS_KEY: WRONG_KEY }, "coverage");
    expect(wrong.code).toBe(78);
    const lines = wrong.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^invalid configuration: SECRETS_KEY does not decrypt the stored/);
    expect(lines[0]).toContain(newId);
    expect(wrong.stdout).toBe("");
    useKeys(SECRETS_KEY);
  });
});
