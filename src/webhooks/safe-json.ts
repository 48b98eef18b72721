/**
 * JSON that PostgreSQL's `jsonb` accepts, made from JSON it may refuse.
 *
 * `JSON.parse` accepts bodies that `jsonb` refuses, and Cal.com signs whatever bytes it sends:
 * - NUL characters (`\u0000`): jsonb (and text) cannot hold them;
 * - lone surrogates (`\ud800`): not Unicode, refused;
 * - nesting deeper than the server's `max_stack_depth` allows (about 20,000 levels at 2 MB);
 * - numbers outside `numeric`'s range (`1e999999`).
 * `jsonbSafe` rebuilds the value so that none of these remain: strings and keys are made well
 * formed with U+FFFD for what was broken, subtrees deeper than MAX_SAFE_DEPTH become a marker
 * string, and numbers are re-serialised from JavaScript doubles (out of range: null). The result
 * is never the exact delivery, so the inbox keeps the raw bytes beside it (`raw_bytes`).
 */

/** Levels kept in a safe payload; deeper subtrees are replaced by DEPTH_MARKER. */
export const MAX_SAFE_DEPTH = 256;

export const DEPTH_MARKER = `[nested deeper than ${MAX_SAFE_DEPTH} levels: see the raw bytes]`;

/** What the body holds that jsonb refuses even when the rest is fine: `\u0000` and surrogate escapes. */
const UNSAFE_ESCAPE = /\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/** True when the JSON text may hold a NUL or a lone surrogate (a cheap check on the text). */
export function mayHoldUnsafeEscapes(text: string): boolean {
  return UNSAFE_ESCAPE.test(text);
}

function safeString(s: string): string {
  const wellFormed = s.toWellFormed();
  return wellFormed.includes("\u0000") ? wellFormed.replaceAll("\u0000", "\uFFFD") : wellFormed;
}

function safeValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return safeString(value);
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_SAFE_DEPTH) return DEPTH_MARKER;
  if (Array.isArray(value)) return value.map((v) => safeValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[safeString(k)] = safeValue(v, depth + 1);
  return out;
}

/** The value of a JSON text as JSON text that jsonb accepts (see the module comment). */
export function jsonbSafe(text: string): string {
  return JSON.stringify(safeValue(JSON.parse(text), 0));
}

/** A short text for a text column: well formed, no NULs, at most `max` characters. */
export function textSafe(text: string, max = Number.POSITIVE_INFINITY): string {
  const s = safeString(text);
  return s.length > max ? s.slice(0, max) : s;
}
