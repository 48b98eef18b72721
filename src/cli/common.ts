/**
 * What every CLI command shares: id arguments and running a one-shot command against the database
 * (the embedded one of a running `calsync serve` on the same DATA_DIR, see src/db/shared-embedded.ts).
 */
import { InvalidArgumentError } from "commander";
import { decodeGlobalID } from "@pothos/plugin-relay";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Accepts a GraphQL global id (as the API shows) or a raw UUID. */
export function companyIdArg(value: string): string {
  if (UUID.test(value)) return value;
  try {
    const { typename, id } = decodeGlobalID(value);
    if (typename === "Company" && UUID.test(id)) return id;
  } catch {
    /* fall through */
  }
  throw new InvalidArgumentError("expected a Company id (as GraphQL shows it) or a UUID");
}

/** Boots the runtime (config, database, migrations), runs `fn`, and closes what it opened. */
export async function withRuntime<T>(fn: () => Promise<T>): Promise<T> {
  const { boot } = await import("../runtime.ts");
  const runtime = await boot();
  // Ctrl+C during a one-shot command still stops the embedded database it started.
  const interrupt = () => void runtime.close().finally(() => process.exit(130));
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  try {
    return await fn();
  } finally {
    process.removeListener("SIGINT", interrupt);
    process.removeListener("SIGTERM", interrupt);
    await runtime.close();
  }
}
