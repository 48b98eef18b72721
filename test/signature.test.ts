import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SIGNATURE_HEADER, signBody, verifySignature } from "../src/calcom/signature.ts";
import { bookingCreated, serialize } from "./fixtures/webhooks.ts";

const SECRET = "whsec_test_5b1f0c";
const OTHER = "whsec_other_9e2a77";
const body = Buffer.from(serialize(bookingCreated()), "utf8");
const good = signBody(SECRET, body);

function flipBit(hex: string, bit: number): string {
  const b = Buffer.from(hex, "hex");
  b[bit >> 3]! ^= 1 << (bit & 7);
  return b.toString("hex");
}

describe("signBody", () => {
  it("is lowercase hex HMAC-SHA256 of the bytes, same for string and Buffer", () => {
    expect(good).toMatch(/^[0-9a-f]{64}$/);
    expect(good).toBe(createHmac("sha256", SECRET).update(body).digest("hex"));
    expect(signBody(SECRET, body.toString("utf8"))).toBe(good);
  });

  it("header name is the lower-cased X-Cal-Signature-256", () => {
    expect(SIGNATURE_HEADER).toBe("x-cal-signature-256");
  });
});

describe("verifySignature", () => {
  it("accepts the correct signature", () => {
    expect(verifySignature(body, good, [SECRET])).toBe(true);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["no-secret-provided", "no-secret-provided"],
    ["63 chars", good.slice(0, 63)],
    ["65 chars", `${good}0`],
    ["uppercase hex of the correct digest", good.toUpperCase()],
    ["sha256= prefixed", `sha256=${good}`],
    ["surrounded by whitespace", ` ${good}`],
    ["one flipped bit (first byte)", flipBit(good, 0)],
    ["one flipped bit (last byte)", flipBit(good, 255)],
  ])("rejects a %s header", (_name, header) => {
    expect(verifySignature(body, header, [SECRET])).toBe(false);
  });

  it("rejects a signature made with another secret", () => {
    expect(verifySignature(body, signBody(OTHER, body), [SECRET])).toBe(false);
  });

  it("accepts when any secret in the list matches (rotation)", () => {
    expect(verifySignature(body, good, [OTHER, SECRET])).toBe(true);
    expect(verifySignature(body, signBody(OTHER, body), [OTHER, SECRET])).toBe(true);
    expect(verifySignature(body, signBody("third", body), [OTHER, SECRET])).toBe(false);
  });

  it("rejects with an empty secrets list, and never matches an empty secret", () => {
    expect(verifySignature(body, good, [])).toBe(false);
    expect(verifySignature(body, signBody("", body), [""])).toBe(false);
  });

  it("verifies the raw bytes: the same JSON re-serialised with spaces fails", () => {
    const pretty = Buffer.from(JSON.stringify(JSON.parse(body.toString("utf8")), null, 2), "utf8");
    expect(pretty.equals(body)).toBe(false);
    expect(verifySignature(pretty, good, [SECRET])).toBe(false);
    const spaced = Buffer.from(body.toString("utf8").replace(/,/g, ", "), "utf8");
    expect(verifySignature(spaced, good, [SECRET])).toBe(false);
  });

  it("verifies a non-ASCII body signed as UTF-8 bytes (as Node hashes Cal.com's string)", () => {
    const text = serialize(bookingCreated({ title: "Beratung mit Jürgen Müller – 東京 🎉" }));
    const raw = Buffer.from(text, "utf8");
    expect(raw.length).toBeGreaterThan(text.length);
    // What Cal.com does: createHmac(...).update(`${body}`) on the JS string.
    const sig = createHmac("sha256", SECRET).update(text).digest("hex");
    expect(verifySignature(raw, sig, [SECRET])).toBe(true);
    // Any other encoding of the same text is different bytes and fails.
    expect(verifySignature(Buffer.from(text, "latin1"), sig, [SECRET])).toBe(false);
  });

  it("rejects a signature of a different body", () => {
    const other = Buffer.from(serialize(bookingCreated({ uid: "bk_different" })), "utf8");
    expect(verifySignature(other, good, [SECRET])).toBe(false);
  });
});
