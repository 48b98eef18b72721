-- AlterTable
ALTER TABLE "bookings" ADD COLUMN     "meeting_ended_at" TIMESTAMPTZ(3),
ADD COLUMN     "meeting_started_at" TIMESTAMPTZ(3),
ADD COLUMN     "no_show_attendees" INTEGER,
ADD COLUMN     "paid_at" TIMESTAMPTZ(3);
