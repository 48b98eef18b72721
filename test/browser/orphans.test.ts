/**
 * The orphan screens in real Chromium, on the old system's data set (dev/data/legacy): an operator
 * takes "Praxis am See" from 30.56 % to 100 % with the dashboard alone (link by hand, accept all
 * above a score after a preview, export, mark legacy after a confirmation), undoing steps on the
 * way, and the coverage bar follows every click.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { ADMIN_TOKEN } from "../support/app.ts";
import { createService } from "../factories.ts";
import { invalidateListing } from "../../src/sync/listing-cache.ts";
import { loadLegacy, serviceIds } from "../support/legacy.ts";
import { axe, screenshot, signIn, startBrowserHarness, type BrowserHarness } from "./support.ts";

let b: BrowserHarness;
let legacy: Awaited<ReturnType<typeof loadLegacy>>;
let ids: Map<string, string>;
beforeAll(async () => {
  b = await startBrowserHarness({ worker: true });
  legacy = await loadLegacy(b.h.fake);
  ids = await serviceIds(legacy.connected.id);
});
afterAll(async () => b?.close());

const coverage = (page: Page) => page.getByRole("progressbar", { name: "Coverage" }).getAttribute("aria-valuenow");
const row = (page: Page, externalId: string) => page.locator(`tr[data-service="${encodeGlobalID("Service", ids.get(externalId)!)}"]`);

describe("orphans on the dashboard", () => {
  it("goes from 30.56 % to 100 % by clicks, each step undoable", async () => {
    const page = await b.newPage();
    await signIn(page, b.url, ADMIN_TOKEN, `/dashboard#/company/${encodeURIComponent(encodeGlobalID("Company", legacy.connected.id))}/orphans`);
    await expect.poll(() => coverage(page)).toBe("30.56");
    await row(page, "PAS-023").waitFor();
    await expect(axe(page)).resolves.toEqual([]);
    await screenshot(page, "10-orphans");

    // Link one suggestion by hand: the coverage bar moves; undo puts it back.
    await row(page, "PAS-023").locator('button[data-event-type="612"]').click();
    await page.getByText("Linked Triggerpunkt-Behandlung to Triggerpunkt Behandlung.").waitFor();
    await expect.poll(() => coverage(page)).toBe("33.33");
    await page.getByRole("button", { name: "Undo: Linked Triggerpunkt-Behandlung to Triggerpunkt Behandlung." }).click();
    await page.getByText("Undone.").first().waitFor();
    await expect.poll(() => coverage(page)).toBe("30.56");
    await row(page, "PAS-023").waitFor();

    // The two the suggestions cannot settle alone, by hand.
    await row(page, "PAS-023").locator('button[data-event-type="612"]').click();
    await expect.poll(() => coverage(page)).toBe("33.33");
    await row(page, "PAS-024").locator('button[data-event-type="613"]').click();
    await expect.poll(() => coverage(page)).toBe("36.11");

    // Accept all above 0.9: a preview first, then the links.
    await page.getByLabel("Minimum score").fill("0.9");
    await page.getByRole("button", { name: "Accept all above score…" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("heading", { name: "Link 12 services?" }).waitFor();
    await expect(axe(page)).resolves.toEqual([]);
    await screenshot(page, "11-orphans-accept-preview");
    await expect.poll(() => coverage(page)).toBe("36.11"); // the preview changed nothing
    await dialog.getByRole("button", { name: "Link 12" }).click();
    await page.getByText("Linked 12 services.").waitFor();
    await expect.poll(() => coverage(page)).toBe("69.44");

    // Export what Cal.com does not have.
    for (const externalId of legacy.expect.export) {
      const before = Number(await coverage(page));
      await row(page, externalId).getByRole("button", { name: /^Export to Cal.com: / }).click();
      await expect.poll(async () => Number(await coverage(page))).toBeGreaterThan(before);
    }
    expect(await coverage(page)).toBe("86.11");

    // The rest is legacy, after a confirmation; undo, then for good.
    await page.getByRole("button", { name: "Mark remaining orphans legacy…" }).click();
    await dialog.getByRole("heading", { name: "Mark 5 services legacy?" }).waitFor();
    await screenshot(page, "12-orphans-legacy-confirm");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await expect.poll(() => coverage(page)).toBe("86.11");
    await page.getByRole("button", { name: "Mark remaining orphans legacy…" }).click();
    await dialog.getByRole("button", { name: "Mark 5 legacy" }).click();
    await page.getByText("Marked 5 services legacy.").waitFor();
    await expect.poll(() => coverage(page)).toBe("100");
    await page.getByRole("button", { name: "Undo: Marked 5 services legacy." }).click();
    await expect.poll(() => coverage(page)).toBe("86.11");
    await page.getByRole("button", { name: "Mark remaining orphans legacy…" }).click();
    await dialog.getByRole("button", { name: "Mark 5 legacy" }).click();
    await expect.poll(() => coverage(page)).toBe("100");
    await page.getByText("No orphaned services: every active service is on Cal.com.").waitFor();
    await screenshot(page, "13-orphans-done");

    // Every step is in the audit trail.
    await page.getByRole("link", { name: "Audit trail" }).click();
    await page.getByText("service.unlinked").first().waitFor();
    await expect(axe(page)).resolves.toEqual([]);
    await screenshot(page, "14-audit-trail");
  });

  it("still lists the orphans, and says why there are no suggestions, when Cal.com cannot be reached", async () => {
    await createService(legacy.connected.id, { name: "Neue Leistung", slug: null, syncStatus: "NEVER_SYNCED" });
    invalidateListing();
    b.h.fake.fault({ path: /event-types/, status: 503, times: Infinity });
    try {
      const page = await b.newPage();
      await signIn(page, b.url, ADMIN_TOKEN, `/dashboard#/company/${encodeURIComponent(encodeGlobalID("Company", legacy.connected.id))}/orphans`);
      await page.getByRole("rowheader", { name: "Neue Leistung" }).waitFor();
      await expect.poll(() => page.locator("#tab-body .alert").innerText()).toContain("No suggestions right now");
      await screenshot(page, "16-orphans-calcom-down");
    } finally {
      b.h.fake.clearFaults();
    }
  });

  it("sent no request beyond 127.0.0.1", () => {
    expect(b.offsite).toEqual([]);
    expect(b.consoleErrors).toEqual([]);
  });
});
