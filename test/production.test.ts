/**
 * The production start (`npm start`'s command, run without npm): one server process with no
 * launcher between it and its supervisor, which shuts down cleanly on SIGTERM, also when the
 * configured OTLP collector does not answer.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestDatabase } from "./support/db.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { parseEnv, setEnv } from "../src/config.ts";
import { connectDatabase, disconnectDatabase } from "../src/db/client.ts";
import { signBody } from "../src/calcom/signature.ts";
import { bookingCreated } from "./fixtures/webhooks.ts";
import { createCompany, createWebhookSecret } from "./factories.ts";
import { scopedPath } from "./support/webhooks.ts";

vi.setConfig({ testTimeout: 120_000 });

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(database.url, { max: 3 });
});
afterAll(async () => {
  await disconnectDatabase();
  await database.drop();
});

const children = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

/** The command `npm start` runs, from package.json, as argv (it must start with `node`). */
function productionCommand(): string[] {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };
  // `exec` lets npm's shell hand the signals to node (no shell process in between).
  const argv = pkg.scripts["start"]!.replace(/^exec /, "").split(/\s+/);
  expect(argv[0], "npm start runs node itself, no tsx or other launcher").toBe("node");
  return argv.slice(1);
}

async function start(env: Record<string, string>) {
  const child = spawn(process.execPath, productionCommand(), {
    env: { ...process.env, DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, PORT: "0", LOG_LEVEL: "info", ...env },
  });
  children.add(child);
  let out = "";
  child.stderr.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /(?:GraphiQL|GraphQL):\s+(http:\/\/\S+)\/graphql/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`server exited early (${code}): ${out}`)));
  });
  return { child, url, output: () => out };
}

/** Every descendant of `pid`, from /proc. */
function descendants(pid: number): { pid: number; cmdline: string }[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const found: { pid: number; cmdline: string }[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      let cmdline = "";
      try {
        cmdline = readFileSync(`/proc/${c}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      } catch {
        /* exited meanwhile */
      }
      found.push({ pid: c, cmdline });
      walk(c);
    }
  };
  walk(pid);
  return found;
}

async function exitWithin(child: ChildProcessWithoutNullStreams, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  expect(signal, `still running ${ms} ms after SIGTERM`).toBeNull();
  return code;
}

describe("the production command", () => {
  it("is one server process with no launcher, and exits 0 on SIGTERM", async () => {
    const { child, url, output } = await start({});
    expect(child.pid).toBeDefined();
    // The spawned process is the server itself: it answers, and it has no child processes
    // (with DATABASE_URL set there is no embedded PostgreSQL either).
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0")).toEqual(
      expect.arrayContaining(["--import", "./otel/register.ts", "src/cli.ts", "serve"]),
    );
    expect(descendants(child.pid!)).toEqual([]);

    child.kill("SIGTERM");
    expect(await exitWithin(child, 10_000)).toBe(0);
    expect(output()).toContain('"msg":"shutting down"');
  });

  it("shuts down within 3 s when the OTLP collector never answers, and says so once", async () => {
    // A collector that accepts connections and never answers: the worst case for an exporter.
    const sockets = new Set<Socket>();
    const blackHole: Server = createServer((s) => void sockets.add(s));
    await new Promise<void>((r) => blackHole.listen(0, "127.0.0.1", r));
    const port = (blackHole.address() as { port: number }).port;
    try {
      const company = await createCompany();
      const secret = await createWebhookSecret(company.id);
      const { child, url, output } = await start({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "50",
        OTEL_METRIC_EXPORT_INTERVAL: "100",
      });
      // Spans to export: a webhook, its job and their SQL.
      for (let i = 0; i < 3; i++) {
        const body = JSON.stringify(bookingCreated({ uid: `prod-${i}` }));
        const res = await fetch(`${url}${scopedPath(company.id)}`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-cal-signature-256": signBody(secret, body) },
          body,
        });
        expect(res.status).toBe(202);
      }
      // The exporters are now blocked on the black hole.
      await new Promise<void>((resolve) => {
        const check = () => (sockets.size > 0 ? resolve() : setTimeout(check, 20));
        check();
      });
      child.kill("SIGTERM");
      expect(await exitWithin(child, 3_000)).toBe(0);
      const lines = output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { component?: string; msg: string });
      const otel = lines.filter((l) => l.component === "otel");
      expect(otel.length, JSON.stringify(otel)).toBeGreaterThan(0);
      expect(otel.length, "one line per kind of problem, not one per batch").toBeLessThanOrEqual(2);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => blackHole.close(r));
    }
  });
});
