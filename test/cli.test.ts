import { stripVTControlCharacters } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decodeGlobalID } from "@pothos/plugin-relay";
import { buildCli } from "../src/cli.ts";
import { parseEnv, setEnv } from "../src/config.ts";
import { connectDatabase, db, disconnectDatabase } from "../src/db/client.ts";
import { hashToken } from "../src/secrets.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { createTestDatabase } from "./support/db.ts";
import { seedLegacyShape } from "./factories.ts";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
});
afterAll(async () => {
  await disconnectDatabase();
  await database.drop();
});

/** Runs one `calsync …` command in-process and returns what it printed on stdout. */
async function calsync(...args: string[]): Promise<string> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    await buildCli().parseAsync(["node", "calsync", ...args]);
  } finally {
    spy.mockRestore();
  }
  return chunks.join("");
}

describe("calsync CLI", () => {
  it("creates a company, then a company token that is stored only as a hash", async () => {
    const created = await calsync("company", "create", "--name", "Cli Clinic", "--slug", "cli-clinic");
    const gid = created.trim();
    expect(decodeGlobalID(gid).typename).toBe("Company");

    const token = (await calsync("token", "create", gid)).trim();
    expect(token).toMatch(/^csk_/);
    connectDatabase(database.url);
    const stored = await db().apiToken.findUniqueOrThrow({ where: { tokenHash: hashToken(token) } });
    expect(stored.companyId).toBe(decodeGlobalID(gid).id);
    await disconnectDatabase();
  });

  it("prints coverage per company with the totals", async () => {
    connectDatabase(database.url);
    await seedLegacyShape();
    await disconnectDatabase();
    const table = stripVTControlCharacters(await calsync("coverage"));
    const legacy = table.split("\n").find((l) => l.includes("legacy-0"));
    expect(legacy).toMatch(/legacy-0\s+│\s+yes\s+│\s+36\s+│\s+11\s+│\s+25\s+│/);
    expect(legacy).toContain("30.56 %");
    expect(table).toMatch(/all \(8\)/);
  });
});

describe("CLI colour", () => {
  it("is used on a terminal only, and never with NO_COLOR", async () => {
    const { colourAllowed } = await import("../src/cli/output.ts");
    const tty = { isTTY: true } as NodeJS.WriteStream;
    const pipe = { isTTY: false } as NodeJS.WriteStream;
    setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
    expect(colourAllowed(tty)).toBe(true);
    expect(colourAllowed(pipe)).toBe(false);
    setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent", NO_COLOR: "1" }));
    expect(colourAllowed(tty)).toBe(false);
    setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  });
});
