/**
 * With NODE_ENV=production, introspection and GraphiQL are off unless enabled explicitly
 * (issue 11). Each case builds its own app, since the switches are read at start-up.
 */
import { describe, expect, it } from "vitest";
import { startTestApp } from "./support/app.ts";

async function probe(extraEnv: Record<string, string>) {
  const t = await startTestApp({ NODE_ENV: "production", ...extraEnv });
  try {
    const introspection = await t.gql(`{ __schema { queryType { name } } }`);
    const typename = await t.gql(`{ __typename }`);
    const page = await t.http().get("/graphql").set("accept", "text/html");
    return { introspection, typename, page };
  } finally {
    await t.close();
  }
}

describe("NODE_ENV=production", () => {
  it("refuses introspection and serves no GraphiQL by default", async () => {
    const { introspection, typename, page } = await probe({});
    expect(introspection.body.data ?? null).toBeNull();
    expect(introspection.body.errors[0].extensions.code).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(introspection.body.errors[0].message).toMatch(/introspection/i);
    expect(typename.body).toEqual({ data: { __typename: "Query" } });
    expect(page.text).not.toContain("calsync GraphQL");
  });

  it("allows both when GRAPHQL_INTROSPECTION=true and GRAPHIQL=true", async () => {
    const { introspection, page } = await probe({ GRAPHQL_INTROSPECTION: "true", GRAPHIQL: "true" });
    expect(introspection.body.data.__schema.queryType.name).toBe("Query");
    expect(page.status).toBe(200);
    expect(page.text).toContain("calsync GraphQL");
  });
});
