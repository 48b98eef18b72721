import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spanExporter } from "./support/otel-setup.ts";
import { connectedCompany, gid, startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { createCompany } from "./factories.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());

describe("GraphQL spans never carry secrets", () => {
  it("records connectCalcom and addWebhookSecret as spans without their arguments or documents", async () => {
    spanExporter().reset();
    const company = await createCompany();
    const apiKey = "cal_test_privacytestkey0123456789";
    h.fake.addApiKey(apiKey);
    const secret = "whsec_privacy_test_secret_value";
    const connect = await h.t.gql(
      `mutation Connect { connectCalcom(input: { companyId: "${gid("Company", company.id)}", apiKey: "${apiKey}", webhookSecret: "${secret}" }) { calcomConnected } }`,
    );
    expect(connect.body.errors).toBeUndefined();
    const rotated = "whsec_rotated_secret_value_123456";
    const add = await h.t.gql(`mutation($id: ID!, $s: String!) { addWebhookSecret(companyId: $id, secret: $s) { id } }`, {
      id: gid("Company", company.id),
      s: rotated,
    });
    expect(add.body.errors).toBeUndefined();

    const spans = spanExporter().getFinishedSpans();
    expect(spans.some((s) => s.name === "Mutation.connectCalcom")).toBe(true);
    expect(spans.some((s) => s.name === "Mutation.addWebhookSecret")).toBe(true);
    const everything = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })));
    for (const value of [apiKey, secret, rotated]) expect(everything).not.toContain(value);
  });

  it("marks a failing root field's span with the error code", async () => {
    spanExporter().reset();
    const { company } = await connectedCompany(h.fake);
    await h.t.gql(`mutation { createCompany(input: { name: "Dup", slug: "${company.slug}" }) { id } }`);
    const span = spanExporter().getFinishedSpans().find((s) => s.name === "Mutation.createCompany");
    expect(span?.attributes["graphql.error.code"]).toBe("CONFLICT");
    expect(span?.status.code).toBe(2);
  });
});
