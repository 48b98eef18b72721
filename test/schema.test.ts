import { readFileSync } from "node:fs";
import { printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../src/schema/index.ts";

describe("GraphQL schema", () => {
  it("matches the committed schema.graphql (run `npm run schema:print` after a deliberate change)", () => {
    const committed = readFileSync(new URL("../schema.graphql", import.meta.url), "utf8");
    expect(`${printSchema(schema)}\n`).toBe(committed);
  });

  it("never exposes stored Cal.com keys, webhook secrets or token hashes", () => {
    const sdl = printSchema(schema);
    expect(sdl).not.toMatch(/apiKeyEncrypted|secretEncrypted|tokenHash|apiKeyFingerprint/);
  });
});
