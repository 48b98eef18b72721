/**
 * GraphiQL without the internet: Yoga's default page loads GraphiQL from a CDN (it stays at
 * "Loading…" offline). calsync serves the GraphiQL build that ships in the
 * `@graphql-yoga/render-graphiql` npm package instead, as separate files under `/graphiql/assets/`:
 * the page itself holds no inline script or style, so a strict Content-Security-Policy
 * (`script-src 'self'`, `worker-src 'self'`) works, and nothing is fetched from another origin.
 *
 * The build (about 9 MB of JavaScript) is loaded on the first GraphiQL request, not at start-up.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { GraphiQLOptions } from "graphql-yoga";
import type * as GraphiqlBuild from "@graphql-yoga/render-graphiql/graphiql";

type Build = typeof GraphiqlBuild;

let build: Promise<Build> | undefined;
const loadBuild = () => (build ??= import("@graphql-yoga/render-graphiql/graphiql"));

const favicon = readFileSync(new URL("./dashboard/favicon.svg", import.meta.url));

/** Monaco's web workers, by the label GraphiQL asks for. */
const WORKERS = { editorWorkerService: "editorWorkerService", json: "jsonWorker", graphql: "graphqlWorker" } as const;

/** Boots GraphiQL from the options in `#root[data-options]` (kept out of the HTML's scripts). */
const BOOT = `"use strict";
(function () {
  var root = document.getElementById("root");
  var options = JSON.parse(root.getAttribute("data-options") || "{}");
  var workers = ${JSON.stringify(Object.fromEntries(Object.keys(WORKERS).map((label) => [label, `/graphiql/assets/worker-${label}.js`])))};
  self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: function (_id, label) { return workers[label]; } };
  YogaGraphiQL.renderYogaGraphiQL(root, options);
})();
`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page Yoga answers a browser's `GET /graphql` with. */
export function renderGraphiqlPage(options: GraphiQLOptions): string {
  const title = escapeHtml(options.title ?? "calsync GraphQL");
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>${title}</title>
    <link rel="icon" href="/graphiql/assets/favicon.svg" type="image/svg+xml">
    <link rel="stylesheet" href="/graphiql/assets/graphiql.css">
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>GraphiQL needs JavaScript.</noscript>
    <div id="root" data-options="${escapeHtml(JSON.stringify(options))}"></div>
    <script src="/graphiql/assets/graphiql.js"></script>
    <script src="/graphiql/assets/boot.js"></script>
  </body>
</html>
`;
}

export async function graphiqlAssetRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { file: string } }>("/graphiql/assets/:file", async (req, reply) => {
    const { file } = req.params;
    reply.header("cache-control", "public, max-age=3600");
    if (file === "favicon.svg") return reply.type("image/svg+xml").send(favicon);
    if (file === "boot.js") return reply.type("text/javascript; charset=utf-8").send(BOOT);
    const assets = await loadBuild();
    if (file === "graphiql.js") return reply.type("text/javascript; charset=utf-8").send(assets.js);
    if (file === "graphiql.css") return reply.type("text/css; charset=utf-8").send(assets.css);
    const worker = /^worker-(\w+)\.js$/.exec(file)?.[1];
    if (worker && worker in WORKERS) {
      return reply.type("text/javascript; charset=utf-8").send(assets[WORKERS[worker as keyof typeof WORKERS]]);
    }
    return reply.code(404).send({ error: "not_found" });
  });
}
