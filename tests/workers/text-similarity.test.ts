import { describe, expect, it } from "vitest";
import vectorsText from "../fixtures/text-similarity/vectors.jsonl?raw";
import { call, expectStatus } from "./helpers";

interface Vector {
  reference: string;
  candidate: string;
  meteor: number;
}

const vectors: Vector[] = vectorsText
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

describe("text_similarity inside workerd", () => {
  it("scores METEOR as NLTK 3.8 does, with WordNet read from the bundled data file", async () => {
    expect(vectors.length).toBeGreaterThan(100);
    const grader = {
      type: "text_similarity",
      name: "meteor",
      input: "{{sample.output_text}}",
      reference: "{{item.reference}}",
      evaluation_metric: "meteor",
    };
    const samples = vectors.map((v) => ({ completion: v.candidate, item: { reference: v.reference } }));
    const res = await call("POST", "/v1/graders/run", { body: { grader, samples } });
    expectStatus(res, 200);
    const scores: number[] = res.json.results.map((r: { score: number }) => r.score);
    const mismatches = vectors
      .map((v, i) => ({ reference: v.reference, candidate: v.candidate, want: v.meteor, got: scores[i] }))
      .filter((m) => Math.abs((m.got ?? Number.NaN) - m.want) > 1e-9);
    expect(mismatches).toEqual([]);
  });
});
