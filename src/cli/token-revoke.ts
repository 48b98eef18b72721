/**
 * `calsync token revoke <tokenId>`: revokes a company API token at once (every process sees it on
 * the token's next request). Takes the ApiToken's GraphQL id or its UUID.
 */
import { decodeGlobalID } from "@pothos/plugin-relay";
import { type Command, InvalidArgumentError } from "commander";

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

export function registerTokenRevoke(token: Command, withRuntime: <T>(fn: () => Promise<T>) => Promise<T>): void {
  token
    .command("revoke")
    .argument("<tokenId>", "ApiToken id (GraphQL id or UUID)", tokenIdArg)
    .option("--json", "print the result as JSON")
    .description("revoke a company API token (it stops working at once)")
    .action((tokenId: string, opts: { json?: boolean }) =>
      withRuntime(async () => {
        const { revokeApiToken } = await import("../domain/api-tokens.ts");
        const { encodeGlobalID } = await import("@pothos/plugin-relay");
        const row = await revokeApiToken(tokenId, "cli");
        const id = encodeGlobalID("ApiToken", row.id);
        if (opts.json) {
          console.log(JSON.stringify({ id, prefix: row.prefix, revokedAt: row.revokedAt }));
        } else {
          console.log(`revoked token ${row.prefix}… (${id}) at ${row.revokedAt?.toISOString()}`);
        }
      }),
    );
}
