/**
 * `calsync token revoke <tokenId>`: revokes a company API token at once (every process sees it on
 * the token's next request). Takes the ApiToken's GraphQL id or its UUID.
 */
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import { type Command, InvalidArgumentError } from "commander";
import { withRuntime } from "./common.ts";
import { emit, outputOf } from "./output.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function tokenIdArg(value: string): string {
  if (UUID.test(value)) return value.toLowerCase();
  try {
    const { typename, id } = decodeGlobalID(value);
    if (typename === "ApiToken" && UUID.test(id)) return id.toLowerCase();
  } catch {
    /* fall through */
  }
  throw new InvalidArgumentError("expected an ApiToken id (as GraphQL shows it) or a UUID");
}

export function registerTokenRevoke(token: Command): void {
  token
    .command("revoke")
    .argument("<tokenId>", "ApiToken id (GraphQL id or UUID)", tokenIdArg)
    .description("revoke a company API token (it stops working at once, in every process)")
    .action((tokenId: string, _opts: unknown, cmd: Command) =>
      withRuntime(async () => {
        const { revokeApiToken } = await import("../domain/api-tokens.ts");
        const row = await revokeApiToken(tokenId, "cli");
        const id = encodeGlobalID("ApiToken", row.id);
        emit(
          outputOf(cmd),
          { id, prefix: row.prefix, companyId: encodeGlobalID("Company", row.companyId), revokedAt: row.revokedAt },
          () => `revoked token ${row.prefix}… (${id}) at ${row.revokedAt?.toISOString()}`,
        );
      }),
    );
}
