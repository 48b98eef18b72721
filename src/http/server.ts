/**
 * Listens and shuts down gracefully (see shutdown.ts). On SIGTERM/SIGINT: stop accepting, let
 * in-flight requests and running jobs finish (jobs get SHUTDOWN_GRACE_MS, then their abort signal
 * fires and they are released to another worker at once), close the pool, stop the embedded
 * database, flush telemetry, exit. At the deadline this worker's jobs and runs are force-released.
 */
import { buildApp, buildMetricsApp } from "./app.ts";
import { graphiqlEnabled } from "./graphql.ts";
import { log } from "../log.ts";
import { boot } from "../runtime.ts";
import { forceRelease, startWorker, type WorkerHandle } from "../worker/runner.ts";
import { onStopSignals, runShutdown } from "../shutdown.ts";
import { workerCronItems } from "../worker/cron.ts";

export interface ServeOptions {
  worker: boolean;
  /** Called once shutdown completed (tests); default exits the process. */
  onExit?: (code: number) => void;
  /** Leave the OpenTelemetry SDK running after shutdown (tests share it) (Default: false). */
  keepTelemetry?: boolean;
}

export async function serve(options: ServeOptions) {
  const runtime = await boot();
  const { env } = runtime;
  const logger = log("http");
  const app = await buildApp({ adminToken: env.ADMIN_TOKEN! });
  await app.listen({ host: env.HOST, port: env.PORT });
  // METRICS_PORT: /metrics on its own listener (e.g. bound to a private interface), off the public one.
  const metrics = env.METRICS_PORT === undefined ? null : await buildMetricsApp();
  let metricsUrl: string | null = null;
  if (metrics) {
    await metrics.listen({ host: env.METRICS_HOST, port: env.METRICS_PORT! });
    const a = metrics.server.address();
    const p = typeof a === "object" && a ? a.port : env.METRICS_PORT;
    metricsUrl = `http://${env.METRICS_HOST.includes(":") ? `[${env.METRICS_HOST}]` : env.METRICS_HOST}:${p}/metrics`;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : env.PORT;
  const base = `http://${env.HOST.includes(":") ? `[${env.HOST}]` : env.HOST}:${port}`;

  let runner: WorkerHandle | null = null;
  if (options.worker) {
    runner = await startWorker({ concurrency: env.WORKER_CONCURRENCY, cron: workerCronItems(env), reconcileAtStartup: true });
  }

  logger.info({ url: base, worker: options.worker }, "calsync is listening");
  process.stdout.write(
    [
      "",
      `  calsync ready${runtime.embedded ? " (embedded PostgreSQL)" : ""}`,
      graphiqlEnabled() ? `  GraphiQL:    ${base}/graphql` : `  GraphQL:     ${base}/graphql (GraphiQL off: GRAPHIQL=true enables it)`,
      `  Dashboard:   ${base}/dashboard`,
      ...(metricsUrl ? [`  Metrics:     ${metricsUrl}`] : []),
      `  Admin token: ${runtime.adminTokenHint}`,
      "",
      "",
    ].join("\n"),
  );

  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) => {
    stopping ??= (async () => {
      logger.info({ signal }, "shutting down");
      await runShutdown({
        steps: [
          // Draining requests and finishing (or interrupting, after the grace) jobs side by side.
          [
            { name: "http", run: () => app.close() },
            ...(metrics ? [{ name: "metrics listener", run: () => metrics.close() }] : []),
            { name: "worker", run: async () => runner?.stop() },
          ],
          [{ name: "database", run: () => runtime.close() }],
          ...(options.keepTelemetry
            ? []
            : [[{ name: "telemetry", run: async () => (await import("../../otel/sdk.ts")).stopTelemetry() }]]),
        ],
        onDeadline: async () => (runner ? forceRelease(runner) : undefined),
        ...(options.onExit ? { exit: options.onExit } : {}),
      });
    })();
    return stopping;
  };
  // Every signal, not just the first: a Ctrl-C reaches this process twice (from the terminal, and
  // forwarded by npm), and a second signal without a handler would kill it mid-shutdown.
  onStopSignals(shutdown);
  return { app, runner, runtime, url: base, metricsUrl, shutdown };
}
