/**
 * GraphQL over Server-Sent Events, both modes of the graphql-sse protocol, on /graphql itself:
 *
 * - distinct connections (graphql-sse's default, and the plain `Accept: text/event-stream` POST
 *   any EventSource-style client sends): one stream per operation, answered by Yoga's own SSE;
 * - single connection (`createClient({ singleConnection: true })`): `PUT /graphql` reserves a
 *   stream and returns its token, `GET /graphql?token=…` (or with the
 *   `x-graphql-event-stream-token` header) opens it, each operation is a `POST` carrying the token
 *   header and `DELETE` stops one. Browsers on HTTP/1.1 allow about six connections per host;
 *   this mode lets a dashboard follow many runs over one.
 *
 * The single-connection requests are recognised by method or token and handed to Yoga's
 * graphql-sse plugin; everything else passes through untouched. Operations sent over the
 * reserved stream go through the same context (bearer token), limits and error mapping as any
 * other.
 */
import { useGraphQLSSE } from "@graphql-yoga/plugin-graphql-sse";
import type { Plugin } from "graphql-yoga";
import { authenticate } from "../auth/principal.ts";
import { UnauthenticatedError } from "../domain/errors.ts";

export const STREAM_TOKEN_HEADER = "x-graphql-event-stream-token";

function isSingleConnectionRequest(request: Request): boolean {
  if (request.method === "PUT" || request.method === "DELETE") return true;
  if (request.headers.has(STREAM_TOKEN_HEADER)) return true;
  return request.method === "GET" && new URL(request.url).searchParams.has("token");
}

// oxlint-disable-next-line typescript/no-explicit-any -- Yoga plugins carry their own context type
export function graphqlSse(endpoint: string, adminToken: string): Plugin<any> {
  const sse = useGraphQLSSE({ endpoint });
  return {
    onYogaInit: sse.onYogaInit,
    async onRequest(payload) {
      if (!isSingleConnectionRequest(payload.request)) return;
      // Reserving and opening a stream hold server memory: only for a caller with a valid token
      // (each operation sent over it is authenticated again, like any other request).
      const { request } = payload;
      if (request.method === "PUT" || request.method === "GET") {
        const principal = await authenticate(request.headers.get("authorization"), adminToken);
        if (!principal) {
          const error = new UnauthenticatedError();
          payload.endResponse(
            new Response(JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code } }] }), {
              status: 401,
              headers: { "content-type": "application/json; charset=utf-8" },
            }),
          );
          return;
        }
      }
      await sse.onRequest?.(payload);
    },
  } as Plugin;
}
