-- AlterTable
ALTER TABLE "sync_runs" ADD COLUMN     "skipped" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "skips" JSONB NOT NULL DEFAULT '[]';
