/**
 * How alike a service and a Cal.com event type are, from 0 to 1. Pure functions, no I/O.
 *
 * Text is normalised before it is compared, so that what a person would call "the same title"
 * compares equal:
 * - accents and case: transliterated and lower-cased by `@sindresorhus/slugify` ("Wärme" and
 *   "Waerme" both become `waerme`, "Café" `cafe`, "ß" `ss`);
 * - punctuation: every run of non-alphanumerics separates words ("Hot-Stone-Massage" = "Hot Stone
 *   Massage", "(Frauen)" = "Frauen");
 * - stop words: German and English ones (`stopword`'s lists: "für", "mit", "the", "and", …) are
 *   dropped;
 * - durations written into titles ("60 min", "45 Minuten", "90min") are dropped: the duration
 *   is compared as a number, from the fields, not as text;
 * - word order: words are sorted before the comparison (fuzzball's token_sort_ratio, a
 *   Levenshtein ratio over the sorted words), so "Rücken – Präventionskurs" = "Präventionskurs
 *   Rücken"; and compounds: the words run together are compared too, so
 *   "Beckenbodentraining" = "Beckenboden-Training".
 *
 * score = 0.85 · text + 0.15 · duration, where
 *   text     = 0.7 · similarity(name, title) + 0.3 · similarity(slug, slug)   (the name stands in
 *              for a missing slug), and
 *   duration = 1 when both durations are known and equal, 0 when both are known and differ, 0.5
 *              when either is unknown.
 * So an identical title with the same duration scores 1, an identical title with another duration
 * 0.85: suggested, but below any sensible threshold for accepting without a look.
 */
import slugify from "@sindresorhus/slugify";
import * as fuzz from "fuzzball";
import { deu, eng } from "stopword";

/** `stopword`'s German and English lists, also in transliterated form ("für" and "fuer"). */
const STOP_WORDS = new Set([...deu, ...eng].flatMap((w) => [w, slugify(w, { separator: " " })]));
const UNIT = /^(min|mins|minute|minutes|minuten|minuetig|minutig|std|stunde|stunden|h|hr|hrs|hour|hours)$/;
const NUMBER_WITH_UNIT = /^\d+(min|mins|minuten|minutes|h|std)$/;

/** Normalised words of a title or slug (see the module comment). */
export function normaliseWords(text: string | null | undefined): string[] {
  if (!text) return [];
  const words = slugify(text, { separator: " " }).split(" ").filter(Boolean);
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (UNIT.test(word) || NUMBER_WITH_UNIT.test(word)) continue;
    if (/^\d+$/.test(word) && UNIT.test(words[i + 1] ?? "")) continue;
    kept.push(word);
  }
  const withoutStopWords = kept.filter((w) => !STOP_WORDS.has(w));
  // A title made only of stop words ("Das und Mehr") keeps them rather than becoming empty.
  return withoutStopWords.length > 0 ? withoutStopWords : kept;
}

/**
 * Word-order-independent similarity of two normalised word lists, 0..1: the better of the sorted
 * words compared, and the words run together as written, which makes German compounds equal to
 * their hyphenated spelling ("Ultraschalltherapie" = "Ultraschall-Therapie").
 */
export function wordSimilarity(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const sorted = fuzz.token_sort_ratio(a.join(" "), b.join(" "), { full_process: false });
  const compound = fuzz.ratio(a.join(""), b.join(""), { full_process: false });
  return Math.max(sorted, compound) / 100;
}

export interface ServiceSide {
  name: string;
  slug: string | null;
  durationMinutes: number | null;
}

export interface EventTypeSide {
  title: string;
  slug: string;
  lengthInMinutes: number;
}

export function durationAgreement(a: number | null | undefined, b: number | null | undefined): number {
  if (a === null || a === undefined || b === null || b === undefined) return 0.5;
  return a === b ? 1 : 0;
}

/** One side of a comparison with its words normalised once (scoring many pairs normalises each side once). */
export interface Prepared {
  title: string[];
  slug: string[];
  minutes: number | null;
}

export function prepareService(service: ServiceSide): Prepared {
  const name = normaliseWords(service.name);
  return { title: name, slug: service.slug ? normaliseWords(service.slug) : name, minutes: service.durationMinutes };
}

export function prepareEventType(eventType: EventTypeSide): Prepared {
  return { title: normaliseWords(eventType.title), slug: normaliseWords(eventType.slug), minutes: eventType.lengthInMinutes };
}

/** `similarity` of two prepared sides: the same score, without normalising again. */
export function preparedSimilarity(service: Prepared, eventType: Prepared): number {
  const text = 0.7 * wordSimilarity(service.title, eventType.title) + 0.3 * wordSimilarity(service.slug, eventType.slug);
  const score = 0.85 * text + 0.15 * durationAgreement(service.minutes, eventType.minutes);
  return Math.round(score * 1000) / 1000;
}

/** The score of linking `service` to `eventType`, 0..1, rounded to 3 decimals. */
export function similarity(service: ServiceSide, eventType: EventTypeSide): number {
  return preparedSimilarity(prepareService(service), prepareEventType(eventType));
}

/** A slug for a new Cal.com event type from a service's slug or name (lowercase, digits, dashes). */
export function slugFor(name: string, slug: string | null): string {
  const base = slugify(slug || name).slice(0, 60).replace(/-+$/, "");
  return base || "service";
}
