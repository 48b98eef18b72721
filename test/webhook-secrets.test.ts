/**
 * Webhook signing secrets: addWebhookSecret (GraphQL and domain), encryption at rest, rotation
 * expiry, and that no secret is ever returned or audited.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isObjectType } from "graphql";
import { env } from "../src/config.ts";
import { db } from "../src/db/client.ts";
import { activeSecrets, addWebhookSecret } from "../src/domain/webhook-secrets.ts";
import { schema } from "../src/schema/index.ts";
import { SecretBox, secretContext } from "../src/secrets.ts";
import { createApiTokenFor, createCompany, createWebhookSecret } from "./factories.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { companyGid } from "./support/webhooks.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const ADD = `mutation($id: ID!, $s: String!, $e: Int) {
  addWebhookSecret(companyId: $id, secret: $s, expiresOldAfterSeconds: $e) { id name }
}`;

describe("addWebhookSecret (GraphQL)", () => {
  it("stores the secret encrypted, audits without it, and returns the company only", async () => {
    const c = await createCompany();
    const token = await createApiTokenFor(c.id);
    const secret = "whsec_visible_only_once_0123456789";
    const res = await t.gql(ADD, { id: companyGid(c.id), s: secret }, token);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.addWebhookSecret).toEqual({ id: companyGid(c.id), name: c.name });
    expect(JSON.stringify(res.body)).not.toContain(secret);

    const [row] = await db().webhookSecret.findMany({ where: { companyId: c.id } });
    expect(row!.secretEncrypted).not.toContain(secret);
    expect(new SecretBox(env().SECRETS_KEY!).decrypt(row!.secretEncrypted, secretContext("webhook_secret", c.id, row!.id))).toBe(secret);
    expect(row!.expiresAt).toBeNull();

    const audits = await db().auditEvent.findMany({ where: { companyId: c.id, action: "webhook_secret.added" } });
    expect(audits).toHaveLength(1);
    expect(audits[0]!.actor).toMatch(/^token:/);
    expect(JSON.stringify(audits[0]!.details)).not.toContain(secret);
    expect(audits[0]!.details).toMatchObject({ secretId: row!.id, expiresOldAt: null });

    expect(await activeSecrets(c.id)).toEqual([secret]);
  });

  it("validates the input: at least 16 characters, expiresOldAfterSeconds not negative", async () => {
    const c = await createCompany();
    const short = await t.gql(ADD, { id: companyGid(c.id), s: "too-short" });
    expect(short.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "secret" });
    const negative = await t.gql(ADD, { id: companyGid(c.id), s: "long-enough-secret-123", e: -1 });
    expect(negative.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "expiresOldAfterSeconds" });
    expect(await db().webhookSecret.count({ where: { companyId: c.id } })).toBe(0);
  });

  it("is FORBIDDEN with another company's token and NOT_FOUND for an unknown company", async () => {
    const c = await createCompany();
    const other = await createCompany();
    const res = await t.gql(ADD, { id: companyGid(c.id), s: "another-company-secret-1" }, await createApiTokenFor(other.id));
    expect(res.body.errors[0].extensions.code).toBe("FORBIDDEN");
    expect(await db().webhookSecret.count({ where: { companyId: c.id } })).toBe(0);

    const missing = await t.gql(ADD, { id: companyGid("0190b3a0-0000-7000-8000-000000000000"), s: "nobody-has-this-secret" });
    expect(missing.body.errors[0].extensions.code).toBe("NOT_FOUND");
  });

  it("with expiresOldAfterSeconds, sets the expiry of the active secrets only; an earlier expiry stays", async () => {
    const c = await createCompany();
    const soon = new Date(Date.now() + 60_000);
    await createWebhookSecret(c.id, "active-secret-0123456789abcdef");
    await createWebhookSecret(c.id, "expiring-soon-0123456789abcdef", soon);
    const before = Date.now();
    const res = await t.gql(ADD, { id: companyGid(c.id), s: "the-new-secret-0123456789", e: 3600 });
    expect(res.body.errors).toBeUndefined();
    const rows = await db().webhookSecret.findMany({ where: { companyId: c.id }, orderBy: { createdAt: "asc" } });
    const box = new SecretBox(env().SECRETS_KEY!);
    const byPlain = Object.fromEntries(rows.map((r) => [box.decrypt(r.secretEncrypted, secretContext("webhook_secret", c.id, r.id)), r.expiresAt]));
    const hour = byPlain["active-secret-0123456789abcdef"]!.getTime();
    expect(hour).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(hour).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);
    expect(byPlain["expiring-soon-0123456789abcdef"]).toEqual(soon);
    expect(byPlain["the-new-secret-0123456789"]).toBeNull();
    expect((await activeSecrets(c.id)).sort()).toEqual(
      ["active-secret-0123456789abcdef", "expiring-soon-0123456789abcdef", "the-new-secret-0123456789"].sort(),
    );
  });

  it("no output field of the schema can return a stored secret", () => {
    const outputs: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith("__")) continue;
      for (const field of Object.values(type.getFields())) outputs.push(`${type.name}.${field.name}: ${String(field.type)}`);
    }
    expect(outputs).toContain("Mutation.addWebhookSecret: Company!");
    expect(outputs.filter((f) => /secret/i.test(f) && f !== "Mutation.addWebhookSecret: Company!")).toEqual([]);
  });
});

describe("addWebhookSecret (domain, as connectCalcom uses it)", () => {
  it("joins the caller's transaction: a rollback stores nothing", async () => {
    const c = await createCompany();
    await expect(
      db().$transaction(async (tx) => {
        await addWebhookSecret(c.id, "rolled-back-secret-0123456789", undefined, "system", tx);
        throw new Error("caller fails after storing the secret");
      }),
    ).rejects.toThrow("caller fails");
    expect(await db().webhookSecret.count({ where: { companyId: c.id } })).toBe(0);
    expect(await activeSecrets(c.id)).toEqual([]);

    await addWebhookSecret(c.id, "committed-secret-0123456789", undefined, "system");
    expect(await activeSecrets(c.id)).toEqual(["committed-secret-0123456789"]);
  });
});
