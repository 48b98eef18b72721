/**
 * Company API tokens: only the admin mints and revokes them, a company lists its own without any
 * secret, `lastUsedAt` is written at most once a minute, and `calsync token revoke` works.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decodeGlobalID } from "@pothos/plugin-relay";
import { buildCli } from "../src/cli.ts";
import { connectDatabase, db } from "../src/db/client.ts";
import { createApiTokenFor, createCompany } from "./factories.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { gid } from "./support/sync.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const CREATE = `mutation($id: ID!) { createApiToken(companyId: $id) { token tokenId prefix apiToken { id prefix revokedAt } } }`;
const REVOKE = `mutation($id: ID!) { revokeApiToken(id: $id) { id prefix revokedAt company { id } } }`;
const LIST = `query($id: ID!) { company(id: $id) { apiTokens(first: 10) { totalCount edges { node { id prefix createdAt lastUsedAt revokedAt } } } } }`;
const ME = `{ companies(first: 1) { totalCount } }`;

async function mint(companyId: string) {
  const res = await t.gql(CREATE, { id: gid("Company", companyId) });
  expect(res.body.errors).toBeUndefined();
  return res.body.data.createApiToken as { token: string; tokenId: string; prefix: string };
}

describe("createApiToken", () => {
  it("is admin only: a company token cannot mint another, even for its own company", async () => {
    const c = await createCompany();
    const token = await createApiTokenFor(c.id);
    const res = await t.gql(CREATE, { id: gid("Company", c.id) }, token);
    expect(res.body.errors[0].extensions.code).toBe("FORBIDDEN");
    expect(res.body.data).toBeNull();
    expect(await db().apiToken.count({ where: { companyId: c.id } })).toBe(1);
  });

  it("returns the plaintext once, with the ApiToken's global id", async () => {
    const c = await createCompany();
    const minted = await mint(c.id);
    expect(minted.token).toMatch(/^csk_/);
    expect(decodeGlobalID(minted.tokenId).typename).toBe("ApiToken");
    expect(minted.token.startsWith(minted.prefix)).toBe(true);
  });
});

describe("Company.apiTokens", () => {
  it("lists a company's tokens without any secret, to the company itself and the admin", async () => {
    const c = await createCompany();
    const a = await mint(c.id);
    const b = await mint(c.id);
    const own = await t.gql(LIST, { id: gid("Company", c.id) }, a.token);
    expect(own.body.errors).toBeUndefined();
    const list = own.body.data.company.apiTokens;
    expect(list.totalCount).toBe(2);
    expect(list.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual([a.tokenId, b.tokenId].sort());
    expect(JSON.stringify(own.body)).not.toContain(a.token);
    expect(JSON.stringify(own.body)).not.toContain(b.token);

    // No field of ApiToken can return the token or its hash.
    const intro = await t.gql(`{ __type(name: "ApiToken") { fields { name } } }`);
    expect(intro.body.data.__type.fields.map((f: { name: string }) => f.name).sort()).toEqual(
      ["company", "createdAt", "id", "lastUsedAt", "prefix", "revokedAt"],
    );

    // Another company's token sees nothing of them.
    const other = await createApiTokenFor((await createCompany()).id);
    const foreign = await t.gql(LIST, { id: gid("Company", c.id) }, other);
    expect(foreign.body.data.company).toBeNull();
    expect(foreign.body.errors[0].extensions.code).toBe("FORBIDDEN");
  });

  it("lastUsedAt is written on use, then at most once a minute", async () => {
    const c = await createCompany();
    const { token, tokenId } = await mint(c.id);
    const id = decodeGlobalID(tokenId).id;
    expect((await db().apiToken.findUniqueOrThrow({ where: { id } })).lastUsedAt).toBeNull();
    const waitForWrite = async () => {
      for (let i = 0; i < 100; i++) {
        const row = await db().apiToken.findUniqueOrThrow({ where: { id } });
        if (row.lastUsedAt) return row.lastUsedAt;
        await new Promise((r) => setImmediate(r));
      }
      throw new Error("lastUsedAt never written");
    };
    expect((await t.gql(ME, {}, token)).status).toBe(200);
    const first = await waitForWrite();
    for (let i = 0; i < 10; i++) expect((await t.gql(ME, {}, token)).status).toBe(200);
    expect((await db().apiToken.findUniqueOrThrow({ where: { id } })).lastUsedAt).toEqual(first);

    // A minute later (in this process and in the database), the next use is written again.
    await db().apiToken.update({ where: { id }, data: { lastUsedAt: new Date(Date.now() - 120_000) } });
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
    try {
      expect((await t.gql(ME, {}, token)).status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
    for (let i = 0; i < 100; i++) {
      const row = await db().apiToken.findUniqueOrThrow({ where: { id } });
      if (row.lastUsedAt && row.lastUsedAt.getTime() > Date.now() - 60_000) return;
      await new Promise((r) => setImmediate(r));
    }
    throw new Error("lastUsedAt not refreshed after a minute");
  });
});

describe("revokeApiToken", () => {
  it("is admin only; the token stops working at once; revoking twice keeps the first time", async () => {
    const c = await createCompany();
    const victim = await mint(c.id);
    const other = await mint(c.id);
    const denied = await t.gql(REVOKE, { id: victim.tokenId }, other.token);
    expect(denied.body.errors[0].extensions.code).toBe("FORBIDDEN");
    expect((await t.gql(ME, {}, victim.token)).status).toBe(200);

    const res = await t.gql(REVOKE, { id: victim.tokenId });
    expect(res.body.errors).toBeUndefined();
    const revoked = res.body.data.revokeApiToken;
    expect(revoked).toMatchObject({ id: victim.tokenId, prefix: victim.prefix, company: { id: gid("Company", c.id) } });
    expect(revoked.revokedAt).not.toBeNull();

    const after = await t.gql(ME, {}, victim.token);
    expect(after.status).toBe(401);
    expect(after.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect((await t.gql(ME, {}, other.token)).status).toBe(200);

    const again = await t.gql(REVOKE, { id: victim.tokenId });
    expect(again.body.data.revokeApiToken.revokedAt).toBe(revoked.revokedAt);
    const audit = await db().auditEvent.findMany({ where: { companyId: c.id, action: "api_token.revoked" } });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain(victim.token);
  });

  it("answers NOT_FOUND for an unknown token", async () => {
    const res = await t.gql(REVOKE, { id: gid("ApiToken", "00000000-0000-7000-8000-000000000000") });
    expect(res.body.errors[0].extensions.code).toBe("NOT_FOUND");
  });
});

describe("calsync token revoke", () => {
  it("revokes by GraphQL id or UUID, and prints JSON with --json", async () => {
    const c = await createCompany();
    const byGid = await mint(c.id);
    const byUuid = await mint(c.id);
    const run = async (...args: string[]) => {
      let out = "";
      const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
        out += String(chunk);
        return true;
      });
      try {
        await buildCli().parseAsync(["node", "calsync", ...args]);
      } finally {
        spy.mockRestore();
      }
      return out;
    };
    expect(await run("token", "revoke", byGid.tokenId)).toContain(`revoked token ${byGid.prefix}`);
    const json = JSON.parse(await run("token", "revoke", decodeGlobalID(byUuid.tokenId).id, "--json"));
    expect(json).toMatchObject({ id: byUuid.tokenId, prefix: byUuid.prefix, companyId: gid("Company", c.id) });
    // The command's runtime closed this process's pool on exit: reconnect to look.
    connectDatabase(t.databaseUrl, { max: 2 });
    for (const m of [byGid, byUuid]) {
      expect((await db().apiToken.findUniqueOrThrow({ where: { id: decodeGlobalID(m.tokenId).id } })).revokedAt).not.toBeNull();
    }
  });
});
