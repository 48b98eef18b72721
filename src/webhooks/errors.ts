/**
 * One short line naming an error, for `lastError` and logs. Prisma's messages span many lines
 * (with a code frame in development); the database's own primary message is what matters. Only
 * the primary message is used: PostgreSQL's DETAIL and CONTEXT may quote row data.
 */
export function errorLine(err: unknown, max = 500): string {
  const e = err as {
    message?: unknown;
    code?: unknown;
    meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; originalMessage?: unknown } } };
  } | null;
  const cause = e?.meta?.driverAdapterError?.cause;
  if (cause && typeof cause.originalMessage === "string") {
    const code = typeof cause.originalCode === "string" ? `${cause.originalCode}: ` : "";
    return `${code}${cause.originalMessage}`.split("\n")[0]!.slice(0, max);
  }
  const message = typeof e?.message === "string" ? e.message : String(err);
  const lines = message.split("\n").map((l) => l.trim()).filter(Boolean);
  // Prisma puts the database's words last ("… Message: `…`"); other errors lead with them.
  const line = (e?.code && String(e.code).startsWith("P") ? lines.at(-1) : lines[0]) ?? "error";
  return line.slice(0, max);
}
