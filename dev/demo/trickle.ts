/**
 * A gentle trickle of signed Cal.com webhooks for the demo company: bookings created on its
 * linked event types, some rescheduled, some cancelled, some attendees marked no-show, each body
 * signed with the company's webhook secret exactly as Cal.com signs (HMAC-SHA256 of the raw body,
 * lowercase hex in X-Cal-Signature-256). Attendee names and e-mails are invented.
 *
 * With `calcom`, every change is also made on the Cal.com stand-in (its bookings API then shows
 * what Cal.com would), and one delivery in `loseOneIn` is never sent, as when Cal.com's one-shot
 * delivery fails: reconciliation (RECONCILE_CRON, `calsync reconcile`, at start-up) recovers it,
 * and the dashboard's "missed webhooks recovered" counts it.
 *
 * Dev tooling: production code never imports this file.
 */
import { randomUUID } from "node:crypto";
import { signBody } from "../../src/calcom/signature.ts";
import type { FakeCalcom } from "../../test/support/fake-calcom.ts";
import {
  bookingCancelled,
  bookingCreated,
  bookingNoShowUpdated,
  bookingRescheduled,
  serialize,
} from "../../test/fixtures/webhooks.ts";

export interface TrickleOptions {
  /** The scoped webhook URL: http://…/webhooks/calcom/<Company.id> */
  url: string;
  secret: string;
  /** Event type ids the bookings are for (the company's linked ones, read on each tick). */
  eventTypeIds: () => Promise<number[]>;
  intervalMs: number;
  onSent?: (trigger: string, status: number) => void;
  /** Mirror each change on the stand-in's bookings, under this API key. */
  calcom?: { fake: FakeCalcom; apiKey: string };
  /** Lose one delivery in this many (Default: none lost; needs `calcom` to be recoverable). */
  loseOneIn?: number;
  onLost?: (trigger: string) => void;
}

interface Live {
  uid: string;
  bookingId: number;
  eventTypeId: number;
  start: Date;
}

const GUESTS = ["Mia Sommer", "Jonas Feld", "Lea Brandt", "Paul Winter", "Emma Kraus", "Noah Lange", "Sofia Berg"];

export function startTrickle(options: TrickleOptions): { stop(): void; sent(): number } {
  const live: Live[] = [];
  let nextBookingId = 70_000 + Math.floor(Math.random() * 10_000);
  let sent = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const post = async (body: Record<string, unknown>) => {
    if (options.loseOneIn && Math.random() < 1 / options.loseOneIn) {
      options.onLost?.(String(body["triggerEvent"]));
      return;
    }
    const raw = serialize(body);
    const res = await fetch(options.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-cal-signature-256": signBody(options.secret, raw), "x-cal-webhook-version": "2021-10-20" },
      body: raw,
    });
    sent++;
    options.onSent?.(String(body["triggerEvent"]), res.status);
  };

  const calcom = options.calcom;
  const mirror = calcom && {
    created: (b: Live, fromUid: string | null) =>
      calcom.fake.addBookings(calcom.apiKey, [
        { id: b.bookingId, uid: b.uid, eventTypeId: b.eventTypeId, title: "Termin", start: b.start.toISOString(), end: new Date(b.start.getTime() + 30 * 60_000).toISOString(), rescheduledFromUid: fromUid },
      ]),
    update: (uid: string, patch: { status: "cancelled"; rescheduledToUid?: string }) => {
      if (calcom.fake.bookings(calcom.apiKey).some((x) => x.uid === uid)) calcom.fake.updateBooking(calcom.apiKey, uid, patch);
    },
  };

  const guest = () => {
    const name = GUESTS[Math.floor(Math.random() * GUESTS.length)]!;
    return { name, email: `${name.toLowerCase().replace(" ", ".")}@example.com` };
  };

  const tick = async () => {
    const ids = await options.eventTypeIds();
    if (ids.length === 0) return;
    const now = Date.now();
    const roll = Math.random();
    const pick = () => live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
    const attendee = guest();
    const extra = { attendees: [{ ...attendee, timeZone: "Europe/Berlin", language: { locale: "de" }, utcOffset: 60 }] };
    if (live.length < 3 || roll < 0.5) {
      const b: Live = {
        uid: `demo_${randomUUID().slice(0, 12)}`,
        bookingId: nextBookingId++,
        eventTypeId: ids[Math.floor(Math.random() * ids.length)]!,
        start: new Date(now + (1 + Math.floor(Math.random() * 14)) * 86_400_000),
      };
      b.start.setUTCHours(8 + Math.floor(Math.random() * 9), 0, 0, 0);
      live.push(b);
      mirror?.created(b, null);
      await post(bookingCreated({ ...times(b.start), uid: b.uid, bookingId: b.bookingId, eventTypeId: b.eventTypeId, createdAt: new Date().toISOString(), title: "Termin", extra }));
    } else if (roll < 0.7) {
      const old = pick();
      const moved: Live = { ...old, uid: `demo_${randomUUID().slice(0, 12)}`, bookingId: nextBookingId++, start: new Date(old.start.getTime() + 86_400_000) };
      live.push(moved);
      mirror?.created(moved, old.uid);
      mirror?.update(old.uid, { status: "cancelled", rescheduledToUid: moved.uid });
      await post(
        bookingRescheduled({
          ...times(moved.start), toUid: moved.uid, bookingId: moved.bookingId, fromUid: old.uid, fromBookingId: old.bookingId,
          eventTypeId: moved.eventTypeId, createdAt: new Date().toISOString(), title: "Termin", extra,
        }),
      );
    } else if (roll < 0.87) {
      const b = pick();
      mirror?.update(b.uid, { status: "cancelled" });
      await post(bookingCancelled({ ...times(b.start), uid: b.uid, bookingId: b.bookingId, eventTypeId: b.eventTypeId, createdAt: new Date().toISOString(), title: "Termin", extra }));
    } else {
      const b = pick();
      await post(bookingNoShowUpdated({ uid: b.uid, bookingId: b.bookingId, createdAt: new Date().toISOString(), extra: { attendees: [{ email: attendee.email, noShow: true }] } }));
    }
  };

  const loop = () => {
    if (stopped) return;
    // Jitter keeps the figures moving without a metronome.
    timer = setTimeout(() => void tick().catch(() => {}).finally(loop), options.intervalMs * (0.5 + Math.random()));
  };
  loop();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    sent: () => sent,
  };
}

function times(start: Date) {
  return { startTime: start.toISOString().replace(".000", ""), endTime: new Date(start.getTime() + 30 * 60_000).toISOString().replace(".000", "") };
}
