/**
 * Client compatibility (issue 15): calsync, listening on a real socket with its worker jobs and a
 * Cal.com stand-in, driven by the libraries frontends really use, configured as the README's
 * "Using calsync from a frontend" section says:
 * Apollo Client 4 (relayStylePagination), urql + Graphcache (relayPagination), graphql-sse in
 * both modes, GraphQL Code Generator with strictScalars on the README's operations, and
 * relay-compiler with a @refetchable fragment whose refetch query runs.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { buildSchema, introspectionFromSchema, parse, type OperationDefinitionNode } from "graphql";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { filter, firstValueFrom } from "rxjs";
import { relayStylePagination } from "@apollo/client/utilities";
import { Client, fetchExchange } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";
import { relayPagination } from "@urql/exchange-graphcache/extras";
import { createClient as createSseClient } from "graphql-sse";
import { generate } from "@graphql-codegen/cli";
import { Environment, Network, RecordSource, Store, fetchQuery, getSelector, type ConcreteRequest, type ReaderFragment } from "relay-runtime";
import codegenConfig, { scalars } from "../../codegen.ts";
import { requestSync } from "../../src/sync/runs.ts";
import { db } from "../../src/db/client.ts";
import { createApiTokenFor, createServices } from "../factories.ts";
import { connectedCompany, gid, startSyncHarness, type SyncHarness } from "../support/sync.ts";
import { drainJobs } from "../support/worker.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const exec = promisify(execFile);

let h: SyncHarness;
let endpoint: string;
let token: string;
let companyId: string;
let companyName: string;
let serviceNames: string[];
beforeAll(async () => {
  h = await startSyncHarness();
  const base = await h.t.app.listen({ port: 0, host: "127.0.0.1" });
  endpoint = `${base}/graphql`;
  const { company } = await connectedCompany(h.fake, 3);
  companyId = gid("Company", company.id);
  companyName = company.name;
  await createServices(company.id, 7, { calcomEventTypeId: null, syncStatus: "NEVER_SYNCED" });
  serviceNames = (await db().service.findMany({ where: { companyId: company.id }, orderBy: [{ name: "asc" }, { id: "asc" }] })).map((s) => s.name);
  token = await createApiTokenFor(company.id);
});
afterAll(async () => h.close());

/** Everything the libraries print while a test runs: their warnings are what the issue is about. */
let warnings: string[] = [];
const capture = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
beforeAll(() => {
  vi.spyOn(console, "warn").mockImplementation(capture);
  vi.spyOn(console, "error").mockImplementation(capture);
});
afterEach(() => {
  warnings = [];
});

/** The README's example operations, exactly as printed there. */
function readmeOperations(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Using calsync from a frontend"));
  expect(section, "README has a 'Using calsync from a frontend' section").toBeDefined();
  return [...section!.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
}
const operation = (name: string) => {
  const found = readmeOperations().find((doc) => (parse(doc).definitions[0] as OperationDefinitionNode).name?.value === name);
  expect(found, `README operation ${name}`).toBeDefined();
  return found!;
};

describe("Apollo Client 4 with relayStylePagination", () => {
  const policies = {
    Query: { fields: { companies: relayStylePagination() } },
    Company: { fields: { services: relayStylePagination(["filter"]) } },
    Coverage: { merge: true },
    CoverageReport: { merge: true },
    Rates: { merge: true },
    WindowRates: { merge: true },
  };
  const client = (typePolicies: ConstructorParameters<typeof InMemoryCache>[0] extends infer O ? O extends { typePolicies?: infer P } ? P : never : never) =>
    new ApolloClient({
      link: new HttpLink({ uri: endpoint, headers: { authorization: `Bearer ${token}` } }),
      cache: new InMemoryCache({ typePolicies }),
    });

  it("pages through services, merging every page, with no cache warning", async () => {
    const apollo = client(policies);
    const query = gql(operation("CompanyServices"));
    type Page = { company: { services: { totalCount: number; edges: { node: { name: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } } };
    // The idiom of a paginated list: one watched query, fetchMore for each next page.
    const observable = apollo.watchQuery({ query, variables: { companyId, first: 3 } });
    const subscription = observable.subscribe({});
    await firstValueFrom(observable.pipe(filter((r) => r.dataState === "complete")));
    let pageInfo = (observable.getCurrentResult().data as unknown as Page).company.services.pageInfo;
    let rounds = 0;
    while (pageInfo.hasNextPage && rounds++ < 5) {
      // fetchMore resolves with the page it fetched; the cache merges it into the list.
      const next = await observable.fetchMore({ variables: { after: pageInfo.endCursor } });
      pageInfo = (next.data as unknown as Page).company.services.pageInfo;
    }
    subscription.unsubscribe();
    const merged = apollo.readQuery({ query, variables: { companyId, first: 3 } }) as unknown as Page;
    expect(merged.company.services.totalCount).toBe(7);
    expect(merged.company.services.edges.map((e) => e.node.name)).toEqual(serviceNames);

    // The README's mutation, as a frontend sends it.
    const synced = await apollo.mutate({ mutation: gql(operation("SyncCompany")), variables: { companyId } });
    expect((synced.data as { syncCompany: { status: string } }).syncCompany.status).toBe("QUEUED");

    // Coverage (no id) refetched through another query merges instead of warning.
    await apollo.query({ query: gql(operation("CoverageOverview")) });
    await apollo.query({ query: gql`query($id: ID!) { company(id: $id) { id coverage { totalServices } } }`, variables: { id: companyId }, fetchPolicy: "network-only" });
    expect(warnings).toEqual([]);
  });

  it("warns without the documented type policies (the control for the test above)", async () => {
    const apollo = client({ Company: { fields: { services: relayStylePagination(["filter"]) } } });
    await apollo.query({ query: gql`query($id: ID!) { company(id: $id) { id coverage { activeServices } } }`, variables: { id: companyId } });
    await apollo.query({ query: gql`query($id: ID!) { company(id: $id) { id coverage { totalServices } } }`, variables: { id: companyId } });
    expect(warnings.join("\n")).toMatch(/coverage/i);
  });
});

describe("urql with Graphcache and relayPagination", () => {
  const schema = introspectionFromSchema(buildSchema(readFileSync(join(ROOT, "schema.graphql"), "utf8")));
  /** Every object type without an id, computed as the README's urql example does. */
  const embeddedTypes = schema.__schema.types
    .filter((t) => t.kind === "OBJECT" && !t.name.startsWith("__") && !["Query", "Mutation", "Subscription"].includes(t.name))
    .filter((t) => !("fields" in t) || !t.fields.some((f) => f.name === "id"))
    .map((t) => t.name);

  function urql(keys: Record<string, () => null>) {
    return new Client({
      url: endpoint,
      fetchOptions: { headers: { authorization: `Bearer ${token}` } },
      exchanges: [cacheExchange({ schema, keys, resolvers: { Company: { services: relayPagination() } } }), fetchExchange],
    });
  }

  it("the README derives the keys from the introspection, as this test does", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain('!t.fields?.some((f) => f.name === "id")');
    expect(embeddedTypes).toEqual(expect.arrayContaining(["Coverage", "CoverageReport", "CompanyCoverage", "ApiTokenPayload", "PageInfo"]));
  });

  it("pages through services with relayPagination and no Graphcache warning", async () => {
    const client = urql(Object.fromEntries(embeddedTypes.map((n) => [n, () => null])));
    const query = operation("CompanyServices");
    let result = await client.query(query, { companyId, first: 3 }).toPromise();
    expect(result.error).toBeUndefined();
    let services = result.data.company.services;
    while (services.pageInfo.hasNextPage) {
      result = await client.query(query, { companyId, first: 3, after: services.pageInfo.endCursor }).toPromise();
      services = result.data.company.services;
    }
    // relayPagination hands back every page seen so far as one connection.
    expect(services.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(serviceNames);
    const report = await client.query(operation("CoverageOverview"), {}).toPromise();
    expect(report.data.coverageReport.totalCompanies).toBe(1);
    expect(warnings).toEqual([]);
  });

  it("warns without them (the control)", async () => {
    const client = urql({});
    await client.query(operation("CoverageOverview"), {}).toPromise();
    expect(warnings.join("\n")).toMatch(/CoverageReport|key/);
  });
});

describe("graphql-sse", () => {
  const PROGRESS = () => operation("SyncRunProgress");

  async function follow(singleConnection: boolean, runIds: string[], bearer: string) {
    const client = createSseClient({ url: endpoint, singleConnection, headers: { authorization: `Bearer ${bearer}` } });
    try {
      let drained: Promise<void> | undefined;
      const streams = runIds.map(async (id) => {
        const seen: { status: string; progress: number }[] = [];
        for await (const message of client.iterate({ query: PROGRESS(), variables: { id } })) {
          expect(message.errors).toBeUndefined();
          seen.push((message.data as { syncRunProgress: { status: string; progress: number } }).syncRunProgress);
          drained ??= drainJobs(); // run the worker once a stream has shown the queued run
        }
        return seen;
      });
      const results = await Promise.all(streams);
      await drained;
      return results;
    } finally {
      client.dispose();
    }
  }

  async function queuedRuns(n: number) {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const { company } = await connectedCompany(h.fake, 5);
      const { run } = await requestSync(company.id, "MANUAL");
      ids.push(gid("SyncRun", run.id));
    }
    return ids;
  }

  it("streams a sync run to completion in distinct-connections mode", async () => {
    // Admin-visible runs of other companies: use the admin token through a second client.
    const [id] = await queuedRuns(1);
    const client = createSseClient({ url: endpoint, headers: { authorization: `Bearer ${h.t.env.ADMIN_TOKEN}` } });
    const seen: { status: string }[] = [];
    let drained: Promise<void> | undefined;
    for await (const message of client.iterate({ query: PROGRESS(), variables: { id } })) {
      seen.push((message.data as { syncRunProgress: { status: string } }).syncRunProgress);
      drained ??= drainJobs();
    }
    await drained;
    client.dispose();
    expect(seen[0]!.status).toBe("QUEUED");
    expect(seen.at(-1)!.status).toBe("SUCCEEDED");
  });

  it("streams two runs over one reserved connection in single-connection mode (PUT /graphql)", async () => {
    const ids = await queuedRuns(2);
    const results = await follow(true, ids, h.t.env.ADMIN_TOKEN!);
    for (const seen of results) {
      expect(seen[0]).toMatchObject({ status: "QUEUED" });
      expect(seen.at(-1)).toMatchObject({ status: "SUCCEEDED", progress: 1 });
    }
    // The reservation itself: a token for the stream, only for an authenticated caller.
    const reserve = await fetch(endpoint, { method: "PUT", headers: { authorization: `Bearer ${token}` } });
    expect(reserve.status).toBe(201);
    expect((await reserve.text()).length).toBeGreaterThan(10);
    const anonymous = await fetch(endpoint, { method: "PUT" });
    expect(anonymous.status).toBe(401);
    expect((await anonymous.json()).errors[0].extensions.code).toBe("UNAUTHENTICATED");
  });

  it("keeps the plain text/event-stream POST working", async () => {
    const [id] = await queuedRuns(1);
    await drainJobs();
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${h.t.env.ADMIN_TOKEN}` },
      body: JSON.stringify({ query: PROGRESS(), variables: { id } }),
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text();
    expect(text).toContain("event: next");
    expect(text).toContain('"status":"SUCCEEDED"');
    expect(text).toContain("event: complete");
  });
});

describe("GraphQL Code Generator with strictScalars", () => {
  it("types the README's operations with the shipped config, and the output compiles", async () => {
    const dir = mkdtempSync(join(tmpdir(), "calsync-codegen-"));
    try {
      const documents = join(dir, "operations.graphql");
      writeFileSync(documents, readmeOperations().join("\n"));
      const output = join(dir, "operations.ts");
      const [target] = Object.values(codegenConfig.generates) as { plugins: string[]; config: object }[];
      await generate({ ...codegenConfig, schema: join(ROOT, "schema.graphql"), documents, generates: { [output]: target! } }, true);
      const types = readFileSync(output, "utf8");
      // DateTime fields are strings, JSON fields unknown: the shipped mappings, not `any`.
      expect(types).toMatch(/export type CompanyServicesQuery = .*lastSyncedAt: string \| null.*metadata: unknown/);
      expect(types).not.toMatch(/\bany\b/);
      expect(types).toMatch(/export type SyncRunProgressSubscription = /);
      const compiled = await exec(join(ROOT, "node_modules/.bin/tsc"), ["--ignoreConfig", "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022", "--module", "nodenext", output]).then(
        () => "",
        (err: { stdout?: string }) => err.stdout ?? String(err),
      );
      expect(compiled).toBe("");

      // Without the mappings, strictScalars refuses to guess.
      await expect(
        generate({ ...codegenConfig, schema: join(ROOT, "schema.graphql"), documents, generates: { [output]: { ...target!, config: { strictScalars: true } } } }, false),
      ).rejects.toThrow(/DateTime/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(Object.keys(scalars).sort()).toEqual(["DateTime", "JSON"]);
  });
});

describe("relay-compiler", () => {
  it("compiles a @refetchable fragment whose refetch query runs against calsync", async () => {
    const project = join(ROOT, "test/clients/relay");
    mkdirSync(join(project, "__generated__"), { recursive: true });
    await exec(join(ROOT, "node_modules/.bin/relay-compiler"), [], { cwd: project });
    const fragmentTypes = readFileSync(join(project, "__generated__/CompanyCard_company.graphql.ts"), "utf8");
    expect(fragmentTypes).toMatch(/readonly createdAt: string;/); // customScalarTypes applied

    // Imported by path: the files exist only once relay-compiler ran (they are not committed), so
    // the type check of a fresh clone must not try to resolve them.
    const generated = (name: string) => join(project, "__generated__", name);
    const refetch = (await import(generated("CompanyCardRefetchQuery.graphql.ts"))).default as ConcreteRequest;
    const fragment = (await import(generated("CompanyCard_company.graphql.ts"))).default as ReaderFragment;
    const environment = new Environment({
      network: Network.create(async (params, variables) => {
        const res = await fetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${h.t.env.ADMIN_TOKEN}` },
          body: JSON.stringify({ query: params.text, variables }),
        });
        return res.json();
      }),
      store: new Store(new RecordSource()),
    });
    const data = (await fetchQuery(environment, refetch, { id: companyId }).toPromise()) as { node: object | null };
    expect(data.node).not.toBeNull();
    const card = environment.lookup(getSelector(fragment, data.node) as never).data as Record<string, unknown>;
    expect(card).toMatchObject({ name: companyName, calcomConnected: true, coverage: { activeServices: expect.any(Number) } });
    expect(card["createdAt"]).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);

    // The same refetch for an id that names nothing (a deleted object) is a plain null.
    const gone = (await fetchQuery(environment, refetch, { id: gid("Company", "0190a3f4-0000-7000-8000-000000000000") }).toPromise()) as { node: unknown };
    expect(gone.node).toBeNull();
  });
});
