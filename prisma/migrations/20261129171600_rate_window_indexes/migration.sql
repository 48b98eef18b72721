-- CreateIndex
CREATE INDEX "sync_runs_finished_at_idx" ON "sync_runs"("finished_at");

-- CreateIndex
CREATE INDEX "webhook_events_received_at_idx" ON "webhook_events"("received_at");
