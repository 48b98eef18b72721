-- CreateEnum
CREATE TYPE "WebhookEventSource" AS ENUM ('WEBHOOK', 'RECONCILE');

-- CreateEnum
CREATE TYPE "ReconcileTrigger" AS ENUM ('MANUAL', 'SCHEDULED', 'STARTUP');

-- AlterTable
ALTER TABLE "calcom_connections" ADD COLUMN     "bookings_reconciled_until" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "webhook_events" ADD COLUMN     "payload_scrubbed_at" TIMESTAMPTZ(3),
ADD COLUMN     "reconcile_run_id" UUID,
ADD COLUMN     "resolved_at" TIMESTAMPTZ(3),
ADD COLUMN     "source" "WebhookEventSource" NOT NULL DEFAULT 'WEBHOOK';

-- CreateTable
CREATE TABLE "reconcile_runs" (
    "id" UUID NOT NULL,
    "company_id" UUID NOT NULL,
    "trigger" "ReconcileTrigger" NOT NULL,
    "status" "SyncRunStatus" NOT NULL DEFAULT 'QUEUED',
    "since" TIMESTAMPTZ(3),
    "until" TIMESTAMPTZ(3),
    "cursor" TIMESTAMPTZ(3),
    "queued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,
    "pages" INTEGER NOT NULL DEFAULT 0,
    "fetched" INTEGER NOT NULL DEFAULT 0,
    "recovered" INTEGER NOT NULL DEFAULT 0,
    "updated" INTEGER NOT NULL DEFAULT 0,
    "unchanged" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "error_class" TEXT,
    "correlation_id" TEXT NOT NULL,
    "trace_id" TEXT,

    CONSTRAINT "reconcile_runs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "reconcile_runs_company_id_queued_at_idx" ON "reconcile_runs"("company_id", "queued_at" DESC);

-- CreateIndex
CREATE INDEX "reconcile_runs_queued_at_idx" ON "reconcile_runs"("queued_at");

-- CreateIndex
CREATE INDEX "audit_events_created_at_idx" ON "audit_events"("created_at");

-- CreateIndex
CREATE INDEX "bookings_uid_idx" ON "bookings"("uid");

-- Booking uids become unique per company. Every existing row keeps its place: uids were
-- unique across companies, so they are unique per company too. The new index exists before the
-- old one goes, so uniqueness is enforced throughout.
CREATE UNIQUE INDEX "bookings_company_id_uid_key" ON "bookings"("company_id", "uid");
DROP INDEX "bookings_uid_key";

-- CreateIndex
CREATE INDEX "sync_runs_queued_at_idx" ON "sync_runs"("queued_at");

-- CreateIndex
CREATE INDEX "webhook_events_received_at_idx" ON "webhook_events"("received_at");

-- CreateIndex
CREATE INDEX "webhook_events_reconcile_run_id_idx" ON "webhook_events"("reconcile_run_id");

-- AddForeignKey
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_reconcile_run_id_fkey" FOREIGN KEY ("reconcile_run_id") REFERENCES "reconcile_runs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reconcile_runs" ADD CONSTRAINT "reconcile_runs_company_id_fkey" FOREIGN KEY ("company_id") REFERENCES "companies"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Hand-written (partial indexes are beyond schema.prisma) ------------------------------------------

-- One QUEUED or RUNNING reconcile per company, which concurrent requests share.
CREATE UNIQUE INDEX "reconcile_runs_one_active_per_company" ON "reconcile_runs" ("company_id")
  WHERE status IN ('QUEUED', 'RUNNING');

-- Retention finds the payloads still to scrub without walking the ones already scrubbed.
CREATE INDEX "webhook_events_scrub_due" ON "webhook_events" ("received_at")
  WHERE payload_scrubbed_at IS NULL AND status IN ('PROCESSED', 'IGNORED');
