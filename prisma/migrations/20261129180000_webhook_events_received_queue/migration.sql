-- The processing batch claims a company's RECEIVED events in receipt order (webhooks/process.ts):
-- a partial index keeps that a short index scan however many processed events the company has.
CREATE INDEX "webhook_events_received_queue" ON "webhook_events" ("company_id", "received_at", "id") WHERE "status" = 'RECEIVED';
