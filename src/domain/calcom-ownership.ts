/**
 * Whether a company's Cal.com connection owns the event types it syncs, and so may receive the
 * unscoped webhooks (`POST /webhooks/calcom`, one shared secret for every company) of those
 * event types.
 *
 * Invariant: an unscoped delivery is routed to a company only when exactly one company holds a
 * service for the delivery's event type AND that company's connection is proved
 * (`ownership_verified_at` set). Proof is made with authenticated calls only:
 * - a personal connection (no team) lists the key's own user's event types, so it holds by
 *   construction;
 * - a team connection's key user (`GET /v2/me`) must be an accepted ADMIN or OWNER in
 *   `GET /v2/teams/{teamId}/memberships` (which itself needs TEAM_ADMIN). It is proved at
 *   `connectCalcom` and again before every sync; a failed check clears the proof, so a user
 *   removed from the team stops receiving its webhooks at the next sync.
 * The team's event-type listing proves nothing (it has no auth guard in some Cal.com versions):
 * that is how company A could once connect with company B's team id and take B's webhooks.
 */
import { InvalidCredentials, NotFound } from "../calcom/errors.ts";
import type { CalcomClient } from "../calcom/client.ts";
import { isTeamAdmin } from "../calcom/teams.ts";
import { db } from "../db/client.ts";
import { log } from "../log.ts";

/** The key's Cal.com user is not an accepted ADMIN or OWNER of the team (or cannot list its members). */
export class NotTeamAdmin extends Error {
  override name = "NotTeamAdmin";
  readonly teamId: number;

  constructor(teamId: number, userId: number) {
    super(
      `the Cal.com user of this API key (id ${userId}) is not an accepted ADMIN or OWNER of team ${teamId}; ` +
        "connect with a key of a team admin, or without teamId",
    );
    this.teamId = teamId;
  }
}

/**
 * Proves that `userId` administers `teamId`, with the key of `client`. Throws `NotTeamAdmin` when
 * Cal.com says no (401/403/404 on the memberships, or no qualifying entry), and the client's own
 * errors (Unavailable, RateLimited…) when it cannot say.
 */
export async function proveTeamAdmin(client: CalcomClient, teamId: number, userId: number): Promise<void> {
  let memberships;
  try {
    memberships = await client.teamMemberships(teamId);
  } catch (err) {
    if (err instanceof InvalidCredentials || err instanceof NotFound) throw new NotTeamAdmin(teamId, userId);
    throw err;
  }
  if (!isTeamAdmin(memberships, userId, teamId)) throw new NotTeamAdmin(teamId, userId);
}

/**
 * Re-checks a company's connection before a sync (team connections only; personal ones hold by
 * construction). Records the proof, or clears it and throws `NotTeamAdmin`.
 */
export async function reverifyOwnership(companyId: string, client: CalcomClient): Promise<void> {
  const connection = await db().calcomConnection.findUnique({
    where: { companyId },
    select: { teamId: true, calcomUserId: true, ownershipVerifiedAt: true },
  });
  if (!connection) return;
  if (connection.teamId === null) {
    if (!connection.ownershipVerifiedAt) {
      await db().calcomConnection.updateMany({ where: { companyId }, data: { ownershipVerifiedAt: new Date() } });
    }
    return;
  }
  const userId = connection.calcomUserId ?? (await client.verifyCredentials()).id;
  try {
    await proveTeamAdmin(client, connection.teamId, userId);
  } catch (err) {
    if (err instanceof NotTeamAdmin) {
      await db().calcomConnection.updateMany({ where: { companyId }, data: { ownershipVerifiedAt: null, calcomUserId: userId } });
      log("calcom").warn({ companyId, teamId: connection.teamId }, "team ownership no longer proved; unscoped webhooks stop routing here");
    }
    throw err;
  }
  await db().calcomConnection.updateMany({
    where: { companyId },
    data: { ownershipVerifiedAt: new Date(), calcomUserId: userId, lastVerifiedAt: new Date() },
  });
}
