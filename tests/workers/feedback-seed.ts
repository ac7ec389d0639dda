import { env } from "cloudflare:workers";
import { createDb } from "../../db/client";
import { feedbackEvents, feedbackSources } from "../../db/schema";
import { newId } from "../../functions/lib/ids";

export type Msg = { role: string; content: string };

export interface SeedEvent {
  input: string | Msg[];
  output: string;
  rating?: "up" | "down" | number;
  correction?: string;
  reference?: Record<string, unknown>;
  redactions?: Record<string, number>;
}

let clock = Date.UTC(2026, 0, 1);

/**
 * Writes feedback events straight into feedback_events, as the webhook would have stored them, one
 * second apart (ids sort in the same order). Returns their ids in order.
 */
export async function seedFeedback(
  events: SeedEvent[],
  opts: { sourceId?: string; model?: string; projectId?: string } = {},
): Promise<string[]> {
  const db = createDb(env.DB);
  const rows = events.map((e) => {
    clock += 1000;
    const id = newId("fb", clock);
    const rating = e.rating === undefined ? null : String(e.rating);
    return {
      id,
      projectId: opts.projectId ?? "prj_default",
      sourceId: opts.sourceId ?? "",
      deliveryId: id,
      model: opts.model ?? "test-model",
      input: e.input,
      inputText: typeof e.input === "string" ? e.input : e.input.map((m) => m.content).join("\n"),
      output: e.output,
      rating,
      ratingValue: e.rating === undefined ? null : e.rating === "up" ? 1 : e.rating === "down" ? 0 : e.rating,
      correction: e.correction ?? null,
      reference: e.reference ?? null,
      redactions: e.redactions ?? {},
      occurredAt: clock,
      receivedAt: clock,
      processedAt: clock,
    };
  });
  const inserts = rows.map((r) => db.insert(feedbackEvents).values(r));
  for (let i = 0; i < inserts.length; i += 50) {
    const part = inserts.slice(i, i + 50);
    await db.batch(part as [(typeof part)[0], ...typeof part]);
  }
  return rows.map((r) => r.id);
}

/** A feedback source row (the other half of the feature creates these through its API). */
export async function seedSource(name: string, projectId = "prj_default"): Promise<string> {
  const id = newId("fs");
  await createDb(env.DB)
    .insert(feedbackSources)
    .values({ id, projectId, name, secretEnc: "not-a-real-secret", createdAt: Date.now() });
  return id;
}

/** A fresh source id per test, so each test curates only its own events. */
export const freshSource = () => newId("fs");

/** Deterministic distinct words (a seeded LCG), for texts long enough to have many 5-gram shingles. */
export function words(seed: number, n: number): string[] {
  let s = seed >>> 0 || 1;
  const syl = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "fu", "gi"];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let w = "";
    for (let k = 0; k < 3; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      w += syl[(s >>> 16) % syl.length];
    }
    out.push(w);
  }
  return out;
}
