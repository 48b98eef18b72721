/**
 * METRICS_PORT: /metrics is served on its own listener (METRICS_HOST, default 127.0.0.1) and not
 * on the public one, through the real `serve` start-up.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseEnv, setEnv } from "../src/config.ts";
import { serve } from "../src/http/server.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { createTestDatabase } from "./support/db.ts";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database.drop());

describe("METRICS_PORT", () => {
  it("moves /metrics off the public listener onto its own", async () => {
    setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "silent" }));
    const exits: number[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const server = await serve({ worker: false, onExit: (code) => exits.push(code), keepTelemetry: true });
    write.mockRestore();
    try {
      expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
      const res = await fetch(server.metricsUrl!);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("calsync_queue_oldest_due_age_seconds");
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.shutdown("test");
    }
    expect(exits).toEqual([0]);
    await expect(fetch(server.metricsUrl!)).rejects.toThrow("fetch failed");
  });
});
