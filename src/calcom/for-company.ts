/**
 * Builds the `CalcomClient` of a company from its stored connection: the key decrypted (it lives
 * only inside the client), the team, the configured timeout, every attempt gated by the shared
 * rate budget of the key's fingerprint, and every response counted in `calsync_calcom_requests`.
 */
import { env } from "../config.ts";
import { db } from "../db/client.ts";
import { calcomRequests } from "../metrics.ts";
import { secretContext, type SecretBox } from "../secrets.ts";
import { secretBox as storedSecretBox } from "../domain/stored-secrets.ts";
import { rateBudget } from "./rate-budget.ts";
import { CalcomClient, type CalcomClientOptions } from "./client.ts";

/** Client settings that tests (and tools) may override: retries and backoff, never the key. */
export type ClientTuning = Pick<CalcomClientOptions, "maxAttempts" | "baseDelayMs" | "maxDelayMs" | "maxRateLimitWaitMs" | "timeoutMs">;

let tuning: ClientTuning = {};

/** Overrides retry/backoff settings of every client built from now on (tests; `{}` resets). */
export function tuneCalcomClients(next: ClientTuning): void {
  tuning = next;
}

/** The company has no Cal.com connection (never connected, or disconnected meanwhile). */
export class NotConnected extends Error {
  override name = "NotConnected";
  constructor(companyId: string) {
    super(`company ${companyId} is not connected to Cal.com`);
  }
}

export function secretBox(): SecretBox {
  return storedSecretBox();
}

export interface KeyedClientInput {
  apiKey: string;
  fingerprint: string;
  teamId?: number | null | undefined;
  /** The company the calls are for, put on their spans. */
  companyId?: string | undefined;
}

/**
 * A client for a plain key (connectCalcom checks a key before it is stored). `defaults` yield to
 * the tests' tuning; `fixed` does not (e.g. `maxAttempts: 1` for a create that must never be
 * repeated blindly).
 */
export function clientForKey(input: KeyedClientInput, defaults: ClientTuning = {}, fixed: ClientTuning = {}, signal?: AbortSignal): CalcomClient {
  const config = env();
  const budget = rateBudget();
  return new CalcomClient({
    baseUrl: config.CALCOM_API_URL,
    apiKey: input.apiKey,
    ...(input.teamId !== null && input.teamId !== undefined ? { teamId: input.teamId } : {}),
    timeoutMs: config.CALCOM_TIMEOUT_MS,
    ...defaults,
    ...tuning,
    ...fixed,
    acquire: (abort) => budget.acquire(input.fingerprint, abort),
    ...(signal ? { signal } : {}),
    onResponse: (status) => calcomRequests.add(1, { status: String(status) }),
    ...(input.companyId ? { spanAttributes: { "calsync.company_id": input.companyId } } : {}),
  });
}

/**
 * The client of a connected company; throws `NotConnected` when it has no connection. `signal`
 * (a job's abort signal) interrupts its requests and waits.
 */
export async function clientForCompany(companyId: string, fixed: ClientTuning = {}, signal?: AbortSignal): Promise<CalcomClient> {
  const connection = await db().calcomConnection.findUnique({
    where: { companyId },
    select: { apiKeyEncrypted: true, apiKeyFingerprint: true, teamId: true },
  });
  if (!connection) throw new NotConnected(companyId);
  return clientForKey({
    apiKey: secretBox().decrypt(connection.apiKeyEncrypted, secretContext("calcom_api_key", companyId)),
    fingerprint: connection.apiKeyFingerprint,
    teamId: connection.teamId,
    companyId,
  }, {}, fixed, signal);
}
