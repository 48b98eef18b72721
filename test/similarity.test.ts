import { describe, expect, it } from "vitest";
import type { Service } from "../src/generated/prisma/client.ts";
import type { CalcomEventType } from "../src/calcom/event-types.ts";
import { normaliseWords, similarity, slugFor } from "../src/orphans/similarity.ts";
import { rankSuggestions, SUGGESTION_FLOOR } from "../src/orphans/suggestions.ts";
import { freeSlug } from "../src/orphans/export.ts";

const et = (id: number, title: string, lengthInMinutes = 30, slug = slugFor(title, null)): CalcomEventType => ({ id, title, slug, lengthInMinutes });
const svc = (id: string, name: string, durationMinutes: number | null = 30, slug: string | null = null) =>
  ({ id, name, slug, durationMinutes }) as Service;

describe("normalised words", () => {
  it("drop accents, case, punctuation, German and English stop words and durations written in the title", () => {
    expect(normaliseWords("Wärme-Therapie für die Schulter (60 Min.)")).toEqual(["waerme", "therapie", "schulter"]);
    expect(normaliseWords("The Back Pain Consultation, 45 minutes")).toEqual(["back", "pain", "consultation"]);
    expect(normaliseWords("Café 90min")).toEqual(["cafe"]);
    expect(normaliseWords("Und")).toEqual(["und"]); // only stop words: kept
    expect(normaliseWords(null)).toEqual([]);
  });

  it("score word order, compounds and spelling as the same title, and a different duration lower", () => {
    expect(similarity(svc("a", "Präventionskurs Rücken", 60), et(1, "Rücken – Präventionskurs", 60))).toBe(1);
    expect(similarity(svc("a", "Ultraschalltherapie", 15), et(1, "Ultraschall-Therapie", 15))).toBe(1);
    expect(similarity(svc("a", "Massage", 30), et(1, "Massage", 60))).toBe(0.85);
    expect(similarity(svc("a", "Massage", null), et(1, "Massage", 60))).toBe(0.925);
    expect(similarity(svc("a", "Physiotherapie", 30), et(1, "Steuerberatung", 30))).toBeLessThan(SUGGESTION_FLOOR);
  });

  it("pick free slugs", () => {
    expect(slugFor("Hot-Stone Massage!", null)).toBe("hot-stone-massage");
    expect(slugFor("!!!", null)).toBe("service");
    expect(freeSlug("massage", new Set(["massage", "massage-2"]))).toBe("massage-3");
  });
});

describe("ranking", () => {
  it("marks ties and contention ambiguous, never offers linked event types, and applies the floor", () => {
    const orphans = [svc("1", "Faszientherapie", 45), svc("2", "Massage 30 Minuten", 30), svc("3", "Massage 60 Minuten", 60), svc("4", "Steuern", 30)];
    const listing = [et(10, "Faszientherapie", 45), et(11, "Faszientherapie", 45, "faszientherapie-2"), et(12, "Massage", 60), et(13, "Massage", 30, "massage-linked")];
    const ranked = rankSuggestions(orphans, listing, new Set([13]));
    const best = (id: string) => ranked.find((s) => s.service.id === id && s.rank === 1);
    expect(best("1")).toMatchObject({ calcomEventTypeId: 10, ambiguous: true }); // tie with 11
    expect(best("3")).toMatchObject({ calcomEventTypeId: 12, ambiguous: false, score: 1 });
    expect(best("2")).toMatchObject({ calcomEventTypeId: 12, ambiguous: true }); // 3 wants it more
    expect(best("4")).toBeUndefined();
    expect(ranked.some((s) => s.calcomEventTypeId === 13)).toBe(false);
    // Equal scores for one event type: both ambiguous.
    const twins = rankSuggestions([svc("a", "Yoga"), svc("b", "Yoga")], [et(20, "Yoga")], new Set());
    expect(twins.every((s) => s.ambiguous)).toBe(true);
  });
});
