/**
 * The dashboard in real headless Chromium, as an operator meets it: sign in with a token, read
 * the figures, filter, sync, retry, and with the keyboard only. Screenshots of each main screen
 * land in .ci/artifacts/screenshots. No request may leave 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { ADMIN_TOKEN } from "../support/app.ts";
import { connectedCompany } from "../support/sync.ts";
import { createApiTokenFor, createSyncRun, createWebhookEvent, seedLegacyShape } from "../factories.ts";
import { bookingCreated, PERSONAL_DATA } from "../fixtures/webhooks.ts";
import { db } from "../../src/db/client.ts";
import { axe, screenshot, signIn, startBrowserHarness, type BrowserHarness } from "./support.ts";

let b: BrowserHarness;
let legacy: Awaited<ReturnType<typeof seedLegacyShape>>;
beforeAll(async () => {
  b = await startBrowserHarness({ worker: true });
  legacy = await seedLegacyShape();
});
afterAll(async () => b?.close());

const companyPath = (id: string, tab = "services") => `/dashboard#/company/${encodeURIComponent(encodeGlobalID("Company", id))}/${tab}`;

async function expectAccessible(page: Page) {
  expect(await axe(page)).toEqual([]);
}

describe("the dashboard", () => {
  it("shows the admin every company, the totals, and 'no services' where nothing is active", async () => {
    const page = await b.newPage();
    await signIn(page, b.url, ADMIN_TOKEN);
    const rows = page.locator("#companies tr");
    await page.getByRole("link", { name: "Legacy 6" }).waitFor();
    expect(await rows.count()).toBe(7);
    await expect.poll(() => page.locator("#totals").innerText()).toContain("30.56 %");
    const legacy0 = rows.filter({ hasText: "Legacy 0" });
    expect(await legacy0.innerText()).toMatch(/30\.56 %\s+36\s+11\s+25/);
    const empty = rows.filter({ hasText: "Legacy 3" });
    expect(await empty.innerText()).toContain("no services");
    expect(await empty.innerText()).not.toContain("0.00 %");
    // The login form is gone for real (it used to stay visible: `hidden` lost to a CSS rule).
    expect(await page.locator("#login").isVisible()).toBe(false);
    await expectAccessible(page);
    await screenshot(page, "01-overview-admin");
  });

  it("shows a company token its own company only", async () => {
    const token = await createApiTokenFor(legacy.connected.id);
    const page = await b.newPage();
    await signIn(page, b.url, token);
    await page.getByRole("link", { name: "Legacy 0" }).waitFor();
    expect(await page.locator("#companies tr").count()).toBe(1);
    expect(await page.getByText("Legacy 1", { exact: true }).count()).toBe(0);
    await page.getByRole("link", { name: "Legacy 0" }).click();
    await page.getByRole("heading", { name: "Legacy 0" }).waitFor();
    // Another company's page, by its URL: nothing of it is shown.
    await page.goto(`${b.url}${companyPath(legacy.companies[1]!.id)}`);
    await page.getByRole("heading", { name: "Company not found" }).waitFor();
    await screenshot(page, "02-company-token");
  });

  it("says so when a token is refused, and asks again", async () => {
    const page = await b.newPage();
    await signIn(page, b.url, "not-a-real-token-0123456789");
    await expect.poll(() => page.getByRole("alert").innerText()).toContain("That token was not accepted");
    expect(await page.getByLabel("API token").isVisible()).toBe(true);
    await expectAccessible(page);
    await screenshot(page, "03-bad-token");
  });

  it("works with the keyboard alone: sign in, open a company, change tabs", async () => {
    const page = await b.newPage();
    await page.goto(`${b.url}/dashboard`);
    // The token field has the focus on arrival.
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press("Enter");
    await page.getByRole("link", { name: "Legacy 0" }).waitFor();
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate(() => document.activeElement?.textContent)) === "Legacy 0") break;
    }
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Legacy 0" }).waitFor();
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate(() => document.activeElement?.textContent)) === "Webhook events") break;
    }
    await page.keyboard.press("Enter");
    await page.getByLabel("Status").waitFor();
    expect(page.url()).toMatch(/\/webhooks$/);
  });

  it("filters and searches a company's services", async () => {
    const page = await b.newPage();
    await signIn(page, b.url, ADMIN_TOKEN, companyPath(legacy.connected.id));
    await page.getByText("36 services").waitFor();
    await page.getByLabel("Status").selectOption("SYNCED");
    await page.getByText("11 services").waitFor();
    await page.getByLabel("Status").selectOption("");
    await page.getByLabel("Search").fill("orphan 2");
    // Orphan 2 and Orphan 20 … 24.
    await page.getByText("6 services").waitFor();
    await page.getByLabel("Search").fill("");
    await page.getByText("36 services").waitFor();
    await expectAccessible(page);
    await screenshot(page, "04-company-services");
  });

  it("starts a sync with a click and shows its progress rising live", async () => {
    const { company } = await connectedCompany(b.h.fake, 4000);
    // Cal.com answers slowly, so the run is seen queued, listed and applying.
    b.h.fake.setLatency(1500);
    const page = await b.newPage();
    await signIn(page, b.url, ADMIN_TOKEN, companyPath(company.id, "syncs"));
    await page.getByRole("button", { name: "Sync now" }).waitFor();
    // Record every value the progress bar takes, as the page renders it.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      new MutationObserver(() => {
        const bar = document.querySelector('[role="progressbar"][aria-label="Sync progress"]');
        const v = Number(bar?.getAttribute("aria-valuenow"));
        if (bar && seen[seen.length - 1] !== v) seen.push(v);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.getByRole("button", { name: "Sync now" }).click();
    await page.getByRole("progressbar", { name: "Sync progress" }).waitFor();
    await screenshot(page, "05-sync-progress");
    await page.getByText(/Sync finished: 4000 created/).waitFor({ timeout: 45_000 });
    b.h.fake.setLatency(0);
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    // Several intermediate values, in rising order, all while the page stayed open.
    expect(seen.filter((v) => v > 0 && v < 100).length).toBeGreaterThanOrEqual(2);
    expect([...seen].sort((x, y) => x - y)).toEqual(seen);
    // The finished run is in the table, its trace id linked through TRACE_UI_URL.
    const run = await db().syncRun.findFirstOrThrow({ where: { companyId: company.id } });
    expect(run.status).toBe("SUCCEEDED");
    await expect.poll(() => page.locator("#tab-body tbody tr").first().innerText()).toMatch(/succeeded/);
    const link = page.locator(`a[href="http://127.0.0.1:16686/trace/${run.traceId}"]`);
    await link.waitFor();
    await screenshot(page, "06-sync-runs");
  });

  it("retries a failed webhook event, and shows payloads without attendee data", async () => {
    const { connected } = legacy;
    const event = await createWebhookEvent(connected.id, {
      status: "FAILED",
      attempts: 3,
      lastError: "database unavailable while processing",
      triggerEvent: "BOOKING_CREATED",
      payload: bookingCreated({ uid: "bk_retry_me", eventTypeId: 1000 }) as object,
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    });
    await createSyncRun(connected.id, { status: "SUCCEEDED", progress: 1, finishedAt: new Date() });
    const page = await b.newPage();
    await signIn(page, b.url, ADMIN_TOKEN, companyPath(connected.id, "webhooks"));
    await page.getByLabel("Status").selectOption("FAILED");
    const row = page.locator(`tr[data-event]`).first();
    await expect.poll(() => row.innerText()).toContain("database unavailable while processing");
    await page.getByRole("button", { name: /^Payload of BOOKING_CREATED/ }).click();
    const payload = page.getByLabel("Payload, attendee data hidden");
    await expect.poll(() => payload.innerText()).toContain('"attendees": "[hidden]"');
    const text = await page.locator("body").innerText();
    for (const personal of Object.values(PERSONAL_DATA)) expect(text).not.toContain(personal);
    expect(await page.locator('a[href="http://127.0.0.1:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"]').count()).toBe(1);
    await expectAccessible(page);
    await screenshot(page, "07-webhook-failed");

    await page.getByRole("button", { name: /^Retry BOOKING_CREATED/ }).click();
    await page.getByText("BOOKING_CREATED queued again.").waitFor();
    await expect.poll(async () => (await db().webhookEvent.findUniqueOrThrow({ where: { id: event.id } })).status, { timeout: 20_000 }).toBe("PROCESSED");
    await page.getByLabel("Status").selectOption("");
    await expect.poll(() => page.locator(`tr[data-event]`).first().innerText(), { timeout: 15_000 }).toMatch(/processed/);
    await screenshot(page, "08-webhook-retried");
  });
});

describe("missed webhooks recovered", () => {
  it("shows what reconciliation recovered, per company and in total, and marks recovered events", async () => {
    const { connected } = legacy;
    await db().reconcileRun.create({
      data: { companyId: connected.id, trigger: "SCHEDULED", status: "SUCCEEDED", recovered: 3, correlationId: "reconcile-test", finishedAt: new Date() },
    });
    await createWebhookEvent(connected.id, { status: "PROCESSED", triggerEvent: "BOOKING_CANCELLED", source: "RECONCILE" });
    const page = await b.newPage();
    await signIn(page, b.url, ADMIN_TOKEN);
    await expect.poll(() => page.locator("#companies tr").filter({ hasText: "Legacy 0" }).locator("td").last().innerText()).toBe("3");
    await expect.poll(() => page.locator("#totals").innerText()).toMatch(/3\s+Missed webhooks recovered/);
    await page.goto(`${b.url}${companyPath(connected.id, "webhooks")}`);
    await expect.poll(() => page.locator("#company-head").innerText()).toMatch(/3\s+Missed webhooks recovered/);
    await expect.poll(() => page.locator("#company-head").innerText()).toContain("(3 recovered)");
    await page.getByText("recovered by reconciliation").first().waitFor();
    await screenshot(page, "15-recovered");
  });
});

describe("GraphiQL", () => {
  it("loads from calsync itself, with no inline script and nothing from a CDN", async () => {
    const html = await (await fetch(`${b.url}/graphql`, { headers: { accept: "text/html" } })).text();
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
    expect(html).not.toMatch(/<style/);
    const page = await b.newPage();
    await page.goto(`${b.url}/graphql`);
    await page.locator(".graphiql-container").first().waitFor();
    await page.getByText("calsync GraphQL").first().waitFor();
    // Put the token where the page says, run the query it starts with, read the answer.
    await page.getByText("Headers", { exact: true }).click();
    const headers = page.locator(".graphiql-editor-tool .graphiql-editor").last();
    await headers.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type(JSON.stringify({ Authorization: `Bearer ${ADMIN_TOKEN}` }));
    await page.getByRole("button", { name: /Execute query/ }).click();
    await expect.poll(() => page.locator(".graphiql-response").innerText(), { timeout: 20_000 }).toContain('"totalCompanies"');
    await screenshot(page, "09-graphiql");
  });
});

describe("the whole browser session", () => {
  it("sent no request beyond 127.0.0.1, and broke no Content-Security-Policy", () => {
    expect(b.offsite).toEqual([]);
    const relevant = b.consoleErrors.filter((e) => !/status of 401/.test(e));
    expect(relevant).toEqual([]);
  });
});
