/**
 * Moved: the Cal.com rate budget belongs to the Cal.com client and lives in
 * src/calcom/rate-budget.ts. This re-export keeps older imports working; import from there.
 */
export * from "../calcom/rate-budget.ts";
