-- AlterTable
ALTER TABLE "calcom_connections" ADD COLUMN     "calcom_user_id" INTEGER,
ADD COLUMN     "ownership_verified_at" TIMESTAMPTZ(3);

-- A personal key lists its own user's event types: ownership holds by construction. Team
-- connections made before the membership check stay unproved until the next sync re-checks them.
UPDATE "calcom_connections" SET "ownership_verified_at" = "connected_at" WHERE "team_id" IS NULL;
