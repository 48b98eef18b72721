// Imports every domain type so it registers with the builder, then builds the schema.
import { builder } from "./builder.ts";
import "./node.ts";
import "./company.ts";
import "./coverage.ts";
import "./rates.ts";
import "./service.ts";
import "./syncRun.ts";
import "./webhookEvent.ts";
import "./webhookSecret.ts";
import "./booking.ts";
import "./auditEvent.ts";
import "./apiToken.ts";
import "./calcom.ts";
import "./reconcileRun.ts";
import "./serviceMutations.ts";
import "./linkSuggestion.ts";
import "./orphanCleanupResult.ts";
import "./serviceImport.ts";

export const schema = builder.toSchema({ sortSchema: false });
