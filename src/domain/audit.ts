import type { Prisma } from "../generated/prisma/client.ts";
import type { Principal } from "../auth/principal.ts";
import { db } from "../db/client.ts";
import { currentCorrelationId } from "../log.ts";

type Tx = Prisma.TransactionClient;

export function actorOf(principal: Principal | "cli" | "system"): string {
  if (typeof principal === "string") return principal;
  return principal.kind === "admin" ? "admin" : `token:${principal.tokenId}`;
}

/** Records who changed what; details must never hold secrets. */
export async function audit(
  companyId: string,
  actor: string,
  action: string,
  details: Prisma.InputJsonValue = {},
  tx: Tx = db(),
): Promise<void> {
  await tx.auditEvent.create({
    data: { companyId, actor, action, details, correlationId: currentCorrelationId() ?? null },
  });
}
