/**
 * A minimal OTLP/HTTP JSON receiver (POST /v1/traces, /v1/metrics, /v1/logs) for tests: it
 * records every span it is sent, so a test can assert what actually went over the wire.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

function attrValue(v: Record<string, unknown>): unknown {
  return v["stringValue"] ?? v["intValue"] ?? v["doubleValue"] ?? v["boolValue"] ?? v["arrayValue"] ?? null;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  #server: Server | undefined;
  #waiters: (() => void)[] = [];

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.contentTypes.add(String(req.headers["content-type"]));
        if (req.url === "/v1/traces") {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            resourceSpans?: { scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
          };
          for (const rs of body.resourceSpans ?? []) {
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                this.spans.push({
                  traceId: String(s["traceId"]),
                  spanId: String(s["spanId"]),
                  parentSpanId: String(s["parentSpanId"] ?? ""),
                  name: String(s["name"]),
                  kind: Number(s["kind"]),
                  attributes: Object.fromEntries(((s["attributes"] ?? []) as OtlpAttribute[]).map((a) => [a.key, attrValue(a.value)])),
                  links: ((s["links"] ?? []) as { traceId: string; spanId: string }[]).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
                });
              }
            }
          }
          for (const w of this.#waiters.splice(0)) w();
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Resolves once `predicate` holds for the spans received so far. */
  async waitFor(predicate: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
    while (!predicate(this.spans)) await new Promise<void>((r) => this.#waiters.push(r));
    return this.spans;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
