-- AlterTable
ALTER TABLE "webhook_events" ADD COLUMN     "booking_uid" TEXT,
ADD COLUMN     "calcom_booking_id" INTEGER,
ADD COLUMN     "calcom_event_type_id" INTEGER,
ADD COLUMN     "raw_bytes" BYTEA;

-- CreateIndex
CREATE INDEX "bookings_calcom_booking_id_idx" ON "bookings"("calcom_booking_id");

-- CreateIndex
CREATE INDEX "services_calcom_event_type_id_idx" ON "services"("calcom_event_type_id");

-- Hand-written (partial indexes are beyond schema.prisma) ------------------------------------------

-- Re-matching looks only at UNMATCHED events, by each of their keys.
CREATE INDEX "webhook_events_unmatched_event_type_idx" ON "webhook_events" ("calcom_event_type_id")
    WHERE "status" = 'UNMATCHED';
CREATE INDEX "webhook_events_unmatched_booking_uid_idx" ON "webhook_events" ("booking_uid")
    WHERE "status" = 'UNMATCHED';
CREATE INDEX "webhook_events_unmatched_booking_id_idx" ON "webhook_events" ("calcom_booking_id")
    WHERE "status" = 'UNMATCHED';

-- Existing UNMATCHED events get their keys, so they can be matched too (wrapped or flat shape;
-- numbers as JSON numbers or decimal strings, as webhook-payload.ts reads them).
UPDATE "webhook_events" e
   SET "calcom_event_type_id" = CASE WHEN k.et ~ '^[1-9][0-9]{0,8}$' AND k.et::bigint <= 2147483647 THEN k.et::int END,
       "calcom_booking_id"    = CASE WHEN k.bid ~ '^[1-9][0-9]{0,8}$' AND k.bid::bigint <= 2147483647 THEN k.bid::int END,
       "booking_uid"          = NULLIF(k.uid, '')
  FROM (
    SELECT id,
           COALESCE(d->>'eventTypeId', '') AS et,
           COALESCE(d->>'bookingId', CASE WHEN NOT wrapped OR trig LIKE 'MEETING\_%' THEN d->>'id' END, '') AS bid,
           COALESCE(d->>'uid', d->>'bookingUid') AS uid
      FROM (
        SELECT id, trigger_event AS trig,
               COALESCE(jsonb_typeof(payload->'payload') = 'object', false) AS wrapped,
               CASE WHEN COALESCE(jsonb_typeof(payload->'payload') = 'object', false) THEN payload->'payload' ELSE payload END AS d
          FROM "webhook_events"
         WHERE "status" = 'UNMATCHED' AND jsonb_typeof(payload) = 'object'
      ) s
  ) k
 WHERE e.id = k.id;
