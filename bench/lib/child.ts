/**
 * Servers and measured work run in child processes (the same Node, through tsx), so the load
 * generator does not share an event loop with what it measures and RSS figures are clean. A tiny
 * RPC over the IPC channel: the child says `ready` (with what the parent needs, e.g. its port),
 * then answers calls by name.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The V8 flags `npm start` runs calsync with (package.json's start script, e.g.
 * `--max-semi-space-size=8`): the calsync child gets them too, so the bench measures the process
 * as it runs in production. A smaller young generation means more, shorter scavenges: at 64
 * connections the default one paused the server for tens of milliseconds every ~1,100 deliveries,
 * which is where ingest's p99 came from (same-day A/B: p99 128-507 ms without, 134-179 ms with).
 */
export const START_V8_FLAGS: readonly string[] = (() => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { scripts: Record<string, string> };
  return (pkg.scripts["start"] ?? "").split(/\s+/).filter((a) => /^--max-(semi|old)-space-size=\d+$/.test(a));
})();

type Message =
  | { type: "ready"; info: unknown }
  | { type: "reply"; id: number; ok: true; value: unknown }
  | { type: "reply"; id: number; ok: false; error: string };

export interface ChildOptions {
  /** Environment (replaces the parent's, apart from PATH and HOME). */
  env?: Record<string, string>;
  /** Extra node flags, e.g. `--import ./otel/register.ts` (the calsync child also gets START_V8_FLAGS). */
  execArgv?: string[];
  /** Write a V8 CPU profile into this directory when the child exits. */
  cpuProfDir?: string | undefined;
  args?: string[];
}

export class Child<Info = unknown> {
  readonly #proc: ChildProcess;
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #exited: Promise<number | null>;
  info!: Info;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
    proc.on("message", (m: Message) => {
      if (m.type !== "reply") return;
      const call = this.#calls.get(m.id);
      this.#calls.delete(m.id);
      if (m.ok) call?.resolve(m.value);
      else call?.reject(new Error(m.error));
    });
    void this.#exited.then((code) => {
      for (const call of this.#calls.values()) call.reject(new Error(`child exited (${code}) during a call`));
      this.#calls.clear();
    });
  }

  static async start<Info>(script: string, options: ChildOptions = {}): Promise<Child<Info>> {
    const path = fileURLToPath(new URL(`../children/${script}`, import.meta.url));
    const execArgv = ["--import", "tsx", ...(script === "calsync.ts" ? START_V8_FLAGS : []), ...(options.execArgv ?? [])];
    if (options.cpuProfDir) {
      mkdirSync(options.cpuProfDir, { recursive: true });
      execArgv.push("--cpu-prof", "--cpu-prof-dir", options.cpuProfDir);
    }
    const proc = fork(path, options.args ?? [], {
      execArgv,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", ...options.env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const child = new Child<Info>(proc);
    child.info = await new Promise<Info>((resolve, reject) => {
      proc.on("message", (m: Message) => {
        if (m.type === "ready") resolve(m.info as Info);
      });
      void child.#exited.then((code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
    });
    return child;
  }

  call<T = unknown>(name: string, ...args: unknown[]): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#proc.send({ type: "call", id, name, args });
    });
  }

  /** CPU time (user + system) the child has used so far, ms. */
  async cpuMs(): Promise<number> {
    return this.call<number>("__cpu");
  }

  /** Asks the child to stop (its `stop` handler, then exit), killing it if it does not within 15 s. */
  async stop(): Promise<void> {
    if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) return;
    const timer = setTimeout(() => this.#proc.kill("SIGKILL"), 15_000);
    this.#proc.send({ type: "call", id: 0, name: "__stop", args: [] });
    await this.#exited;
    clearTimeout(timer);
  }
}

type Handler = (...args: never[]) => unknown;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Child side: reports ready with `info` and serves the handlers. `__cpu` answers the CPU time used so
 * far; `__stop` runs `onStop` and exits with code 0 (so `--cpu-prof` writes its profile).
 */
export function serveParent(info: unknown, handlers: Record<string, Handler>, onStop: () => Promise<void> = async () => {}): void {
  process.on("message", (m: { type: string; id: number; name: string; args: unknown[] }) => {
    if (m.type !== "call") return;
    if (m.name === "__stop") {
      void onStop()
        .catch(() => {})
        .finally(() => process.exit(0));
      return;
    }
    const handler = m.name === "__cpu" ? cpuMs : handlers[m.name];
    void (async () => {
      try {
        if (!handler) throw new Error(`no handler ${m.name}`);
        const value = await (handler as (...a: unknown[]) => unknown)(...m.args);
        process.send!({ type: "reply", id: m.id, ok: true, value });
      } catch (err) {
        process.send!({ type: "reply", id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
  // The parent went away: do not linger.
  process.on("disconnect", () => process.exit(0));
  process.send!({ type: "ready", info });
}
