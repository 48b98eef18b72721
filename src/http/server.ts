/**
 * Listens and shuts down gracefully. On SIGTERM/SIGINT: stop accepting, let in-flight requests
 * and running jobs finish, close the pool, stop the embedded database, flush telemetry, exit.
 * Whatever is still running after 10 s is abandoned (jobs are retried by the next worker).
 */
import { buildApp, buildMetricsApp } from "./app.ts";
import { graphiqlEnabled } from "./graphql.ts";
import { log } from "../log.ts";
import { boot } from "../runtime.ts";
import { startWorker, type WorkerHandle } from "../worker/runner.ts";
import { workerCronItems } from "../worker/cron.ts";

const SHUTDOWN_TIMEOUT_MS = 10_000;

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
      const timer = setTimeout(() => {
        logger.error("shutdown took longer than 10 s; exiting anyway");
        (options.onExit ?? process.exit)(1);
      }, SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      const step = async (name: string, fn: () => Promise<unknown>) => {
        const started = Date.now();
        await fn().catch((err: Error) => logger.error({ err: err.message, step: name }, "shutdown step failed"));
        logger.debug({ step: name, ms: Date.now() - started }, "shutdown step done");
      };
      await step("http", () => app.close());
      if (metrics) await step("metrics listener", () => metrics.close());
      await step("worker", async () => runner?.stop());
      await step("database", () => runtime.close());
      if (!options.keepTelemetry) {
        await step("telemetry", async () => (await import("../../otel/sdk.ts")).stopTelemetry());
      }
      clearTimeout(timer);
      (options.onExit ?? process.exit)(0);
    })();
    return stopping;
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return { app, runner, runtime, url: base, metricsUrl, shutdown };
}
