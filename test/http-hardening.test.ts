/**
 * HTTP hardening as a client meets it: timeouts, security headers and CSP, the CORS allowlist,
 * TRUST_PROXY, /metrics behind METRICS_TOKEN (and on METRICS_PORT), cached gauges, and the
 * webhook flood defences (in-memory shedding, negative cache, the ingest pool).
 */
import { forgetBlockedAddresses } from "../src/http/webhooks/calcom.ts";
import { randomUUID } from "node:crypto";
import { connect as tcpConnect, type AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { parseEnv, setEnv, type Env } from "../src/config.ts";
import { inboxPool, pool } from "../src/db/client.ts";
import { invalidateWebhookSecrets } from "../src/domain/webhook-secrets.ts";
import { createCompany, createService, createWebhookSecret, connectCompany } from "./factories.ts";
import { bookingCreated } from "./fixtures/webhooks.ts";
import { ADMIN_TOKEN, SECRETS_KEY, startTestApp, type TestApp } from "./support/app.ts";
import { deliver, scopedPath } from "./support/webhooks.ts";

const METRICS_TOKEN = "metrics-token-0123456789abcdef";
let t: TestApp;
let base: Env;
beforeAll(async () => {
  t = await startTestApp({ HTTP_HEADERS_TIMEOUT_MS: "1000", HTTP_REQUEST_TIMEOUT_MS: "5000", HTTP_KEEP_ALIVE_TIMEOUT_MS: "2000" });
  base = t.env;
});
afterAll(async () => t.close());
beforeEach(async () => {
  setEnv(base);
  await pool().query("DELETE FROM rate_limits");
  forgetBlockedAddresses();
});
const withEnv = (extra: Record<string, string>) =>
  setEnv(parseEnv({ DATABASE_URL: t.databaseUrl, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent", ...extra }));

describe("timeouts", () => {
  it("are set on the server, and a client that never finishes its headers is cut off", async () => {
    const server = t.app.server;
    expect(server.headersTimeout).toBe(1000);
    expect(server.requestTimeout).toBe(5000);
    expect(server.keepAliveTimeout).toBe(2000);
    if (!server.listening) await t.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = server.address() as AddressInfo;
    const socket = tcpConnect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (d) => (answer += String(d)));
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write("POST /graphql HTTP/1.1\r\nHost: x\r\n"); // and then nothing
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe("security headers", () => {
  it("data answers forbid everything; HTML pages allow only their own origin's files", async () => {
    const health = await t.http().get("/healthz");
    expect(health.headers).toMatchObject({
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
      "content-security-policy": expect.stringContaining("default-src 'none'"),
    });
    const graphiql = await t.http().get("/graphql").set("accept", "text/html");
    expect(graphiql.headers["content-type"]).toMatch(/^text\/html/);
    const csp = graphiql.headers["content-security-policy"] as string;
    expect(csp).toMatch(/script-src 'self';/); // no inline script, no eval, no CDN
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).not.toMatch(/https?:/);
    const dashboard = await t.http().get("/dashboard");
    expect(dashboard.headers["x-content-type-options"]).toBe("nosniff");
    const dashboardCsp = dashboard.headers["content-security-policy"] as string;
    expect(dashboardCsp).toMatch(/script-src 'self';/);
    expect(dashboardCsp).not.toContain("unsafe-inline");
    expect(dashboardCsp).toContain("frame-ancestors 'none'");
  });
});

describe("CORS", () => {
  const gqlFrom = (origin: string) =>
    t.http().post("/graphql").set("origin", origin).set("authorization", `Bearer ${ADMIN_TOKEN}`)
      .set("content-type", "application/json").send({ query: "{ companies(first: 1) { totalCount } }" });
  const preflight = (origin: string) =>
    t.http().options("/graphql").set("origin", origin).set("access-control-request-method", "POST").set("access-control-request-headers", "authorization,content-type");

  it("gives no CORS headers without CORS_ORIGINS (Yoga would reflect any origin)", async () => {
    const res = await preflight("https://evil.example");
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    const post = await gqlFrom("https://evil.example");
    expect(post.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("allows exactly the listed origins, without credentials", async () => {
    withEnv({ CORS_ORIGINS: "https://app.example.com, http://localhost:5173" });
    const ok = await preflight("https://app.example.com");
    expect(ok.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(ok.headers["access-control-allow-credentials"]).toBeUndefined();
    expect(ok.headers["access-control-allow-headers"]).toContain("authorization");
    expect(ok.headers["vary"]).toMatch(/Origin/);
    const other = await preflight("https://app.example.com.evil.example");
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    const post = await gqlFrom("http://localhost:5173");
    expect(post.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
  });

  it("refuses a malformed allowlist at start with one line naming the variable", () => {
    expect(() => parseEnv({ CORS_ORIGINS: "*" })).toThrow(/^invalid configuration: CORS_ORIGINS must be a comma-separated list of origins/);
  });
});

describe("security configuration", () => {
  it("a bad value stops start-up with one line naming the variable", () => {
    const key = Buffer.alloc(32, 1).toString("base64");
    const cases: [Record<string, string>, RegExp][] = [
      [{ METRICS_TOKEN: "short" }, /^invalid configuration: METRICS_TOKEN must be at least 16 characters/],
      [{ METRICS_PORT: "70000" }, /^invalid configuration: METRICS_PORT must be a port number/],
      [{ TRUST_PROXY: "everyone" }, /^invalid configuration: TRUST_PROXY must be true, false, a hop count/],
      [{ HTTP_HEADERS_TIMEOUT_MS: "20000", HTTP_REQUEST_TIMEOUT_MS: "10000" }, /^invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS/],
      [{ SECRETS_KEY_PREVIOUS: key }, /^invalid configuration: SECRETS_KEY_PREVIOUS needs SECRETS_KEY/],
      [{ SECRETS_KEY: key, SECRETS_KEY_PREVIOUS: key }, /^invalid configuration: SECRETS_KEY_PREVIOUS must differ from SECRETS_KEY/],
      [{ SECRETS_KEY: key, SECRETS_KEY_PREVIOUS: "not-base64!" }, /^invalid configuration: SECRETS_KEY_PREVIOUS must be 32 random bytes/],
    ];
    for (const [vars, message] of cases) {
      let error: Error | undefined;
      try {
        parseEnv(vars);
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message.split("\n"), JSON.stringify(vars)).toHaveLength(1);
      expect(error?.message, JSON.stringify(vars)).toMatch(message);
    }
    expect(parseEnv({ TRUST_PROXY: "10.0.0.0/8, 192.168.1.1" }).TRUST_PROXY).toBe("10.0.0.0/8, 192.168.1.1");
  });
});

describe("GET /metrics", () => {
  it("needs the bearer token when METRICS_TOKEN is set, and names no tenant without it", async () => {
    const c = await createCompany({ slug: `tenant-${randomUUID().slice(0, 8)}` });
    expect((await t.http().get("/metrics")).status).toBe(200);
    withEnv({ METRICS_TOKEN });
    for (const auth of [undefined, "Bearer wrong-token-0123456789", `Basic ${METRICS_TOKEN}`]) {
      const req = t.http().get("/metrics");
      if (auth) req.set("authorization", auth);
      const res = await req;
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
      expect(res.text).not.toContain(c.slug);
      expect(res.text).not.toContain(c.id);
    }
    const ok = await t.http().get("/metrics").set("authorization", `Bearer ${METRICS_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("calsync_coverage_ratio");
  });

  it("reads the database gauges at most every 15 s, however often it is scraped", async () => {
    const c = await createCompany({ slug: `gauge-${randomUUID().slice(0, 8)}` });
    const svc = await createService(c.id, { calcomEventTypeId: 1, syncStatus: "SYNCED" });
    await createService(c.id);
    const coverage = async () => {
      const text = (await t.http().get("/metrics")).text;
      const line = text.split("\n").find((l) => l.startsWith("calsync_coverage_ratio") && l.includes(`company="${c.slug}"`));
      return line === undefined ? undefined : Number(line.split(" ").pop());
    };
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 60_000 }); // past any snapshot of earlier tests
    try {
      expect(await coverage()).toBe(0.5);
      await pool().query("UPDATE services SET sync_status = 'ERROR' WHERE id = $1", [svc.id]);
      vi.setSystemTime(Date.now() + 14_000);
      for (let i = 0; i < 5; i++) expect(await coverage()).toBe(0.5); // the snapshot
      vi.setSystemTime(Date.now() + 2_000);
      expect(await coverage()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("TRUST_PROXY", () => {
  async function failures(forwardedFor: string, n: number): Promise<number[]> {
    const c = await createCompany();
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      statuses.push((await deliver(t, scopedPath(c.id), bookingCreated(), { secret: "wrong-0123456789abcdef", headers: { "x-forwarded-for": forwardedFor } })).status);
    }
    return statuses;
  }

  it("unset: X-Forwarded-For is ignored, every failure counts against the peer address", async () => {
    const first = await failures("203.0.113.1", 20);
    expect(first.every((s) => s === 401)).toBe(true);
    expect(await failures("203.0.113.2", 1)).toEqual([429]);
  });

  it("set: the client behind the proxy is counted, not the proxy", async () => {
    await t.close();
    t = await startTestApp({ TRUST_PROXY: "127.0.0.1" });
    base = t.env;
    expect((await failures("203.0.113.1", 21)).at(-1)).toBe(429);
    expect(await failures("203.0.113.2", 1)).toEqual([401]);
  });
});

describe("webhook flood", () => {
  it("unknown companies are cached apart: repeated random ids cost one read, and never evict real companies", async () => {
    invalidateWebhookSecrets();
    const real = await createCompany();
    const secret = await createWebhookSecret(real.id);
    expect((await deliver(t, scopedPath(real.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret })).status).toBe(202);
    const ids = Array.from({ length: 15 }, () => randomUUID());
    const query = vi.spyOn(inboxPool(), "query");
    try {
      for (const round of [1, 2]) {
        for (const id of ids) {
          await pool().query("DELETE FROM rate_limits");
          expect((await deliver(t, scopedPath(id), bookingCreated(), { secret: "guess-0123456789abcdef" })).status).toBe(401);
        }
        const secretReads = query.mock.calls.filter(([sql]) => String(sql).includes("FROM webhook_secrets")).length;
        expect(secretReads).toBe(ids.length); // round 2 read nothing
        void round;
      }
      query.mockClear();
      expect((await deliver(t, scopedPath(real.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret })).status).toBe(202);
      expect(query.mock.calls.filter(([sql]) => String(sql).includes("FROM webhook_secrets"))).toHaveLength(0);
    } finally {
      query.mockRestore();
    }
  });

  it("ingest has its own pool: with every main-pool connection held (GraphQL load), a signed delivery is still committed", async () => {
    const c = await createCompany();
    await connectCompany(c.id);
    await createService(c.id, { calcomEventTypeId: 424_242 });
    const secret = await createWebhookSecret(c.id);
    const held = await Promise.all(Array.from({ length: 5 }, () => pool().connect())); // the test app's main pool is 5
    try {
      const res = await deliver(t, scopedPath(c.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret });
      expect(res.status).toBe(202);
    } finally {
      for (const client of held) client.release();
    }
  });
  it("a blocked address costs no database work, while a delivery verifiable from memory still passes", async () => {
    const real = await createCompany();
    const secret = await createWebhookSecret(real.id);
    expect((await deliver(t, scopedPath(real.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret })).status).toBe(202);
    const attack = () => deliver(t, scopedPath(randomUUID()), bookingCreated(), { secret: "guess-0123456789abcdef" });
    let last = 0;
    for (let i = 0; i < 21 && last !== 429; i++) last = (await attack()).status;
    expect(last).toBe(429);
    expect((await attack()).status).toBe(429); // blocked in memory from here on

    const query = vi.spyOn(inboxPool(), "query");
    const connect = vi.spyOn(inboxPool(), "connect");
    const main = vi.spyOn(pool(), "query");
    try {
      for (let i = 0; i < 50; i++) {
        const res = await attack();
        expect(res.status).toBe(429);
        expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      }
      expect(query).not.toHaveBeenCalled();
      expect(connect).not.toHaveBeenCalled();
      expect(main).not.toHaveBeenCalled();
    } finally {
      query.mockRestore();
      connect.mockRestore();
      main.mockRestore();
    }
    // The shared counter decided the block; real companies' signed deliveries still go through,
    // whether their secrets are cached here or not.
    expect((await deliver(t, scopedPath(real.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret })).status).toBe(202);
    const other = await createCompany();
    const otherSecret = await createWebhookSecret(other.id);
    invalidateWebhookSecrets();
    expect((await deliver(t, scopedPath(other.id), bookingCreated({ uid: `bk_${randomUUID()}` }), { secret: otherSecret })).status).toBe(202);
    expect((await deliver(t, scopedPath(other.id), bookingCreated(), { secret: "guess-0123456789abcdef" })).status).toBe(429);
  });
});
