-- CreateIndex
CREATE INDEX "sync_runs_finished_at_idx" ON "sync_runs"("finished_at");
