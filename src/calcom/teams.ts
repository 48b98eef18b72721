/**
 * Cal.com team rights (calcom.md §5). `GET /v2/teams/{teamId}/memberships` needs TEAM_ADMIN; its
 * items name the user, whether the invitation was accepted, and the role. A key may use a team in
 * calsync only when that listing answers and holds an entry for the key's own user (`/v2/me`)
 * with `accepted: true` and role ADMIN or OWNER. Nothing else counts as proof: the team's
 * event-type listing has no auth guard in some Cal.com versions.
 *
 * Only the fields below are kept: the membership's embedded `user` (e-mail, name) is dropped.
 */
import { z } from "zod";
import { successEnvelope } from "./event-types.ts";

export const membershipSchema = z.object({
  id: z.number().int(),
  userId: z.number().int(),
  teamId: z.number().int(),
  accepted: z.boolean(),
  role: z.string(),
});
export type CalcomMembership = z.infer<typeof membershipSchema>;

export const membershipListEnvelope = successEnvelope(z.array(membershipSchema));

/** Roles that may change a team's event types. */
export const TEAM_ADMIN_ROLES: readonly string[] = ["ADMIN", "OWNER"];

/** Items per memberships page (Cal.com's skip/take pagination). */
export const MEMBERSHIPS_PAGE = 250;

/** True when `memberships` hold an accepted ADMIN/OWNER entry for `userId`. */
export function isTeamAdmin(memberships: readonly CalcomMembership[], userId: number, teamId: number): boolean {
  return memberships.some(
    (m) => m.userId === userId && m.teamId === teamId && m.accepted && TEAM_ADMIN_ROLES.includes(m.role.toUpperCase()),
  );
}
