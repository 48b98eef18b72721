/**
 * GraphQL Code Generator config for calsync's operations: a working starting point for a
 * frontend (copy it, point `schema` at calsync's schema.graphql or its /graphql endpoint and
 * `documents` at your operations). `strictScalars` refuses to guess: every custom scalar has its
 * TypeScript type here. The client-compatibility suite (test/clients/) runs exactly this config
 * on the README's example operations.
 */
import type { CodegenConfig } from "@graphql-codegen/cli";

/** calsync's custom scalars as TypeScript sees them (README: "Custom scalars"). */
export const scalars = {
  DateTime: "string", // RFC 3339, UTC: 2026-11-20T12:10:00.000Z (@specifiedBy in the schema)
  JSON: "unknown", // any JSON value; narrow it in your own code
};

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["src/**/*.graphql"],
  ignoreNoDocuments: true,
  generates: {
    "src/generated/calsync-operations.ts": {
      plugins: ["typescript-operations"],
      config: { strictScalars: true, scalars, enumsAsTypes: true, useTypeImports: true },
    },
  },
};

export default config;
