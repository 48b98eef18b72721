/**
 * One `createX(overrides)` per model, with deterministic defaults. They write through Prisma to
 * the file's real database.
 */
import { randomUUID } from "node:crypto";
import { db } from "../src/db/client.ts";
import type { Prisma } from "../src/generated/prisma/client.ts";
import { SecretBox, newApiToken, secretContext } from "../src/secrets.ts";
import { env } from "../src/config.ts";

let seq = 0;
const next = () => ++seq;

export async function createCompany(overrides: Partial<Prisma.CompanyUncheckedCreateInput> = {}) {
  const n = next();
  return db().company.create({ data: { name: `Company ${n}`, slug: `company-${n}-${randomUUID().slice(0, 6)}`, ...overrides } });
}

/**
 * A stored Cal.com connection. Its ownership counts as proved (as `connectCalcom` leaves it)
 * unless `verified: false` (a team connection made before the membership check existed).
 */
export async function connectCompany(companyId: string, apiKey = `cal_test_${randomUUID()}`, teamId?: number, options: { verified?: boolean } = {}) {
  const box = new SecretBox(env().SECRETS_KEY!);
  return db().calcomConnection.create({
    data: {
      companyId, apiKeyEncrypted: box.encrypt(apiKey, secretContext("calcom_api_key", companyId)), apiKeyFingerprint: box.fingerprint(apiKey), teamId: teamId ?? null,
      ownershipVerifiedAt: options.verified === false ? null : new Date(),
    },
  });
}

export async function createWebhookSecret(companyId: string, secret = `whsec_${randomUUID()}`, expiresAt: Date | null = null) {
  const box = new SecretBox(env().SECRETS_KEY!);
  const id = randomUUID();
  await db().webhookSecret.create({ data: { id, companyId, secretEncrypted: box.encrypt(secret, secretContext("webhook_secret", companyId, id)), expiresAt } });
  return secret;
}

export async function createApiTokenFor(companyId: string) {
  const { token, hash, prefix } = newApiToken();
  await db().apiToken.create({ data: { companyId, tokenHash: hash, prefix } });
  return token;
}

export async function createService(companyId: string, overrides: Partial<Prisma.ServiceUncheckedCreateInput> = {}) {
  const n = next();
  return db().service.create({ data: { companyId, name: `Service ${n}`, slug: `service-${n}`, durationMinutes: 30, ...overrides } });
}

/** Many services in one statement. */
export async function createServices(companyId: string, count: number, overrides: Partial<Prisma.ServiceCreateManyInput> = {}) {
  const start = next();
  seq += count;
  await db().service.createMany({
    data: Array.from({ length: count }, (_, i) => ({
      companyId, name: `Service ${start + i}`, slug: `service-${start + i}`, durationMinutes: 30, ...overrides,
    })),
  });
}

export async function createSyncRun(companyId: string, overrides: Partial<Prisma.SyncRunUncheckedCreateInput> = {}) {
  return db().syncRun.create({ data: { companyId, trigger: "MANUAL", correlationId: randomUUID(), ...overrides } });
}

export async function createWebhookEvent(companyId: string | null, overrides: Partial<Prisma.WebhookEventUncheckedCreateInput> = {}) {
  return db().webhookEvent.create({
    data: {
      companyId, triggerEvent: "PING", correlationId: randomUUID(), bodySha256: randomUUID().replaceAll("-", ""),
      payload: { triggerEvent: "PING" }, ...overrides,
    },
  });
}

export async function createBooking(companyId: string, overrides: Partial<Prisma.BookingUncheckedCreateInput> = {}) {
  const start = new Date(Date.UTC(2026, 11, 1, 9 + next() % 8));
  return db().booking.create({
    data: {
      companyId, uid: `bk_${randomUUID()}`, status: "ACCEPTED", title: "Consultation",
      startTime: start, endTime: new Date(start.getTime() + 30 * 60_000), ...overrides,
    },
  });
}

export async function createAuditEvent(companyId: string, overrides: Partial<Prisma.AuditEventUncheckedCreateInput> = {}) {
  return db().auditEvent.create({ data: { companyId, actor: "admin", action: "company.created", details: {}, ...overrides } });
}

/**
 * The old system's shape: 7 companies, 1 connected to Cal.com, 36 services there (11 synced,
 * 25 active without a Cal.com id). Coverage is 11 / 36 = 30.56 %.
 */
export async function seedLegacyShape() {
  const companies = [];
  for (let i = 0; i < 7; i++) companies.push(await createCompany({ name: `Legacy ${i}`, slug: `legacy-${i}` }));
  const connected = companies[0]!;
  await connectCompany(connected.id);
  await db().service.createMany({
    data: Array.from({ length: 11 }, (_, i) => ({
      companyId: connected.id, name: `Synced ${i}`, slug: `synced-${i}`, calcomEventTypeId: 1000 + i,
      syncStatus: "SYNCED" as const, lastCalcomSync: new Date(Date.UTC(2026, 10, 20, 12, i)),
    })),
  });
  await db().service.createMany({
    data: Array.from({ length: 25 }, (_, i) => ({ companyId: connected.id, name: `Orphan ${i}`, slug: `orphan-${i}` })),
  });
  return { companies, connected };
}
