/**
 * The demo's Cal.com: the test suite's Cal.com stand-in (test/support/fake-calcom.ts, API v2
 * shapes of /work/shared/calcom.md, 2024-06-14 event types, Cal.com's rate limit) on loopback,
 * holding the old system's catalogue, with its state kept in the demo DATA_DIR so event types
 * the operator exports survive a restart of the demo.
 *
 * Dev tooling: production code never imports this file.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeCalcom, type BookingSeed, type EventTypeSeed } from "../../test/support/fake-calcom.ts";

export const DEMO_API_KEY = "cal_demo_standin_key_0000000000000000";

export interface Standin {
  fake: FakeCalcom;
  url: string;
  save(): void;
  close(): Promise<void>;
}

export async function startStandin(dataDir: string, seed: () => EventTypeSeed[]): Promise<Standin> {
  const file = join(dataDir, "calcom-standin.json");
  const fake = new FakeCalcom({ apiKeys: [DEMO_API_KEY], latencyMs: 40 });
  const saved = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { eventTypes: EventTypeSeed[]; bookings?: BookingSeed[] }) : null;
  fake.setEventTypes(DEMO_API_KEY, saved?.eventTypes ?? seed());
  fake.addBookings(DEMO_API_KEY, saved?.bookings ?? []);
  const save = () =>
    writeFileSync(file, `${JSON.stringify({ eventTypes: fake.eventTypes(DEMO_API_KEY), bookings: fake.bookings(DEMO_API_KEY) })}\n`);
  save();
  const { url } = await fake.start();
  return {
    fake,
    url,
    save,
    close: async () => {
      save();
      await fake.close();
    },
  };
}
