import { describe, expect, it } from "vitest";
import { errorLine } from "../src/webhooks/errors.ts";

describe("errorLine (what lastError and logs keep of a failure)", () => {
  it("keeps only the database's primary message from a driver error, never its DETAIL", () => {
    const err = Object.assign(new Error("Invalid `tx.booking.create()` invocation:\n\n  code frame\n\nDETAIL: Key (uid)=(jdoe@example.com)"), {
      code: "P2010",
      meta: { driverAdapterError: { cause: { originalCode: "23505", originalMessage: "duplicate key value violates unique constraint\nDETAIL: Key (uid)=(x)" } } },
    });
    expect(errorLine(err)).toBe("23505: duplicate key value violates unique constraint");
  });

  it("takes the last line of a Prisma message and the first line of anything else", () => {
    const prisma = Object.assign(new Error("Invalid invocation:\n\n  frame\n\nMessage: `relation missing`"), { code: "P2021" });
    expect(errorLine(prisma)).toBe("Message: `relation missing`");
    expect(errorLine(new Error("connection refused\n    at Socket"))).toBe("connection refused");
    expect(errorLine(Object.assign(new Error("db said no"), { meta: { driverAdapterError: { cause: { originalMessage: "canceled" } } } }))).toBe("canceled");
  });

  it("handles non-errors, empty messages and long messages", () => {
    expect(errorLine("plain string")).toBe("plain string");
    expect(errorLine(null)).toBe("null");
    expect(errorLine(new Error(""))).toBe("error");
    expect(errorLine(new Error("x".repeat(900)), 40)).toHaveLength(40);
  });
});
