-- AlterTable
ALTER TABLE "sync_runs" ADD COLUMN     "held_for_linking" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "holds" JSONB NOT NULL DEFAULT '[]';
