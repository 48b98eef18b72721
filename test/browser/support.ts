/**
 * Real headless Chromium (Debian's `chromium`, driven by playwright-core) against calsync
 * listening on 127.0.0.1, with the fake Cal.com beside it. Every request the browser makes is
 * recorded: one that would leave 127.0.0.1 is aborted and reported.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startSyncHarness, type SyncHarness } from "../support/sync.ts";
import { startWorker, type WorkerHandle } from "../../src/worker/runner.ts";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOT_DIR = join(process.cwd(), ".ci", "artifacts", "screenshots");
export const TRACE_UI_URL = "http://127.0.0.1:16686/trace/{traceId}";

export interface BrowserHarness {
  h: SyncHarness;
  url: string;
  browser: Browser;
  /** Requests that tried to leave 127.0.0.1 (aborted). */
  offsite: string[];
  /** Console errors and CSP violations seen on any page. */
  consoleErrors: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function startBrowserHarness(options: { worker?: boolean } = {}): Promise<BrowserHarness> {
  const h = await startSyncHarness({ env: { TRACE_UI_URL } });
  await h.t.app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(h.t.app.server.address() as AddressInfo).port}`;
  let runner: WorkerHandle | null = null;
  if (options.worker) runner = await startWorker({ concurrency: 2, pollInterval: 100 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  const offsite: string[] = [];
  const consoleErrors: string[] = [];
  const contexts: BrowserContext[] = [];
  return {
    h,
    url,
    browser,
    offsite,
    consoleErrors,
    async newPage() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      contexts.push(context);
      await context.route("**/*", (route) => {
        const u = new URL(route.request().url());
        const local = u.protocol === "data:" || u.protocol === "blob:" || u.hostname === "127.0.0.1";
        if (local) return route.continue();
        offsite.push(route.request().url());
        return route.abort();
      });
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => consoleErrors.push(e.message));
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      await runner?.stop();
      await h.close();
    },
  };
}

export async function signIn(page: Page, url: string, token: string, path = "/dashboard"): Promise<void> {
  await page.goto(`${url}${path}`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Show dashboard" }).click();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's WCAG 2 A/AA rules on the page as it is now. Evaluated through DevTools, so the
 * page's Content-Security-Policy (no inline scripts) stays in force.
 */
export async function axe(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const w = window as unknown as { axe: { run: (ctx: Document, o: unknown) => Promise<{ violations: AxeViolation[] }> } };
    return w.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } });
  });
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
}
