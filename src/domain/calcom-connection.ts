/**
 * Connecting a company to Cal.com: the key is checked with one real call (`GET /v2/me`); for a
 * team, the key's user must be an accepted ADMIN or OWNER in the team's memberships (see
 * calcom-ownership.ts: the team's event-type listing proves nothing). Then the key is stored encrypted
 * with its fingerprint (the name of its shared rate budget), and the webhook secret is stored
 * through `addWebhookSecret`. Neither ever appears in a log line, an audit entry or an error.
 */
import type { CalcomEventType } from "../calcom/event-types.ts";
import { CalcomError, InvalidCredentials, NotFound, RateLimited, RequestRejected } from "../calcom/errors.ts";
import { clientForKey, secretBox } from "../calcom/for-company.ts";
import { db } from "../db/client.ts";
import { log } from "../log.ts";
import { AppError, NotFoundError, UserInputError } from "./errors.ts";
import { invalidateListing, rememberListing } from "../sync/listing-cache.ts";
import { secretContext } from "../secrets.ts";
import { audit } from "./audit.ts";
import { NotTeamAdmin, proveTeamAdmin } from "./calcom-ownership.ts";
import { activeSecrets, addWebhookSecret } from "./webhook-secrets.ts";

/** Shortest webhook secret accepted (as for `addWebhookSecret`). */
const MIN_WEBHOOK_SECRET_LENGTH = 16;
/** On a reconnection with a new webhook secret, the old ones keep verifying this long. */
const OLD_SECRET_GRACE_SECONDS = 3600;

export interface ConnectCalcomInput {
  companyId: string;
  apiKey: string;
  webhookSecret: string;
  teamId?: number | null | undefined;
}

function validate(input: ConnectCalcomInput): { apiKey: string; teamId: number | null } {
  const apiKey = input.apiKey.trim();
  if (!apiKey || apiKey.length > 512 || /\s/.test(apiKey)) {
    throw new UserInputError("apiKey must be a Cal.com API key (cal_live_… or cal_…), without spaces.", "apiKey");
  }
  if (input.webhookSecret.length < MIN_WEBHOOK_SECRET_LENGTH) {
    throw new UserInputError(`webhookSecret must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters.`, "webhookSecret");
  }
  const teamId = input.teamId ?? null;
  if (teamId !== null && (!Number.isSafeInteger(teamId) || teamId <= 0)) {
    throw new UserInputError("teamId must be a positive Cal.com team id.", "teamId");
  }
  return { apiKey, teamId };
}

/** Cal.com's verdict as a typed GraphQL error, in our words (never the key). */
function calcomFailure(err: unknown, stage: "key" | "team", teamId: number | null): Error {
  if (err instanceof NotTeamAdmin) {
    return new AppError(
      "CALCOM_NOT_TEAM_ADMIN",
      `The API key's Cal.com user is not an accepted ADMIN or OWNER of team ${teamId}; calsync writes to the team's event types, so it needs a team admin's key.`,
    );
  }
  const status = err instanceof CalcomError ? (err.status ?? "?") : "?";
  if (stage === "team" && (err instanceof InvalidCredentials || err instanceof NotFound)) {
    return new AppError("CALCOM_INVALID_CREDENTIALS", `The API key cannot read the event types of Cal.com team ${teamId} (HTTP ${status}).`);
  }
  if (err instanceof InvalidCredentials) {
    return new AppError("CALCOM_INVALID_CREDENTIALS", `Cal.com rejected the API key (HTTP ${status}).`);
  }
  if (err instanceof RequestRejected || err instanceof NotFound) {
    return new UserInputError(`Cal.com refused the check with HTTP ${status}.`, stage === "team" ? "teamId" : "apiKey");
  }
  if (err instanceof RateLimited) {
    return new AppError("CALCOM_UNAVAILABLE", "Cal.com is rate limiting this API key; try again shortly.", {
      retryAfterMs: err.retryAfterMs,
    });
  }
  if (err instanceof CalcomError) {
    return new AppError("CALCOM_UNAVAILABLE", `Cal.com could not be reached or answered badly (${err.code}); try again later.`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export async function connectCalcom(input: ConnectCalcomInput, actor: string): Promise<void> {
  const { apiKey, teamId } = validate(input);
  const { companyId } = input;
  const company = await db().company.findUnique({
    where: { id: companyId },
    select: { id: true, connection: { select: { apiKeyFingerprint: true } } },
  });
  if (!company) throw new NotFoundError("Company");

  const box = secretBox();
  const fingerprint = box.fingerprint(apiKey);
  // Someone is waiting for the answer: two attempts, not the background jobs' five.
  const client = clientForKey({ apiKey, fingerprint, teamId }, { maxAttempts: 2 });
  let me: { id: number };
  let listing: CalcomEventType[] | undefined;
  let stage: "key" | "team" = "key";
  try {
    me = await client.verifyCredentials();
    stage = "team";
    if (teamId !== null) {
      await proveTeamAdmin(client, teamId, me.id);
      listing = await client.listEventTypes();
    }
  } catch (err) {
    log("calcom").warn({ companyId, teamId, stage, errorClass: (err as Error).name }, "Cal.com key check failed");
    throw calcomFailure(err, stage, teamId);
  }

  const reconnect = company.connection !== null;
  const secretKnown = (await activeSecrets(companyId)).includes(input.webhookSecret);
  await db().$transaction(async (tx) => {
    const now = new Date();
    const data = {
      apiKeyEncrypted: box.encrypt(apiKey, secretContext("calcom_api_key", companyId)),
      apiKeyFingerprint: fingerprint,
      teamId,
      lastVerifiedAt: now,
      calcomUserId: me.id,
      ownershipVerifiedAt: now,
    };
    await tx.calcomConnection.upsert({
      where: { companyId },
      create: { companyId, ...data },
      update: { ...data, connectedAt: new Date() },
    });
    if (!secretKnown) {
      await addWebhookSecret(companyId, input.webhookSecret, reconnect ? OLD_SECRET_GRACE_SECONDS : undefined, actor, tx);
    }
    await audit(
      companyId,
      actor,
      reconnect ? "calcom.reconnected" : "calcom.connected",
      {
        teamId,
        calcomUserId: me.id,
        keyFingerprint: fingerprint.slice(0, 12),
        keyChanged: company.connection?.apiKeyFingerprint !== fingerprint,
        webhookSecretAdded: !secretKnown,
      },
      tx,
    );
  });
  invalidateListing(companyId);
  if (listing) rememberListing(companyId, listing);
}
