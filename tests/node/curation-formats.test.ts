import { describe, expect, it } from "vitest";
import {
  buildRows,
  type CurationEvent,
  decideFormat,
  type KeptEvent,
  rowPromptText,
} from "../../functions/lib/curation/formats";

let n = 0;
function ev(e: Partial<CurationEvent> & { input: CurationEvent["input"]; output: string }): KeptEvent {
  n++;
  const inputText = typeof e.input === "string" ? e.input : e.input.map((m) => m.content).join("\n");
  const event: CurationEvent = {
    id: `fb_${n}`,
    sourceId: "fs_a",
    occurredAt: n,
    rating: null,
    ratingValue: null,
    correction: null,
    reference: null,
    redactions: {},
    inputText,
    ...e,
  };
  return { event, feedback: [event.id] };
}

describe("into: auto on large slices", () => {
  it("chooses dpo when there are more than 1,000 labelled rows and at least 100 preference pairs", () => {
    const kept = [
      ...Array.from({ length: 1000 }, (_, i) => ev({ input: `q${i}`, output: `a${i}`, ratingValue: 1, rating: "up" })),
      ...Array.from({ length: 150 }, (_, i) =>
        ev({ input: `c${i}`, output: "wrong", ratingValue: 0, rating: "down", correction: `right ${i}` }),
      ),
    ];
    const d = decideFormat(kept);
    expect(d).toMatchObject({ format: "dpo", recommendation: "sft+dpo" });
    expect(d.reason).toContain("This curation writes the 150 DPO pairs");
    expect(buildRows(kept, "dpo").rows).toHaveLength(150);
    expect(buildRows(kept, "sft").rows).toHaveLength(1150);
  });

  it("chooses sft with many labelled rows and too few pairs, saying how many pairs DPO would need", () => {
    const kept = [
      ...Array.from({ length: 1100 }, (_, i) => ev({ input: `q${i}`, output: `a${i}`, ratingValue: 1, rating: "up" })),
      ...Array.from({ length: 5 }, (_, i) =>
        ev({ input: `c${i}`, output: "x", ratingValue: 0, rating: "down", correction: `y${i}` }),
      ),
    ];
    const d = decideFormat(kept);
    expect(d).toMatchObject({ format: "sft", recommendation: "sft" });
    expect(d.reasons).toContain("only 5 preference pairs; DPO needs at least 100");
  });

  it("chooses sft from corrections alone when nothing is rated", () => {
    const d = decideFormat([ev({ input: "q", output: "x", correction: "y" })]);
    expect(d.format).toBe("sft");
    expect(d.reason).toContain("No event carries a rating");
  });
});

describe("row prompts for the contamination guard", () => {
  it("reads prompt strings and messages, the turns before the final answer, and common prompt fields", () => {
    expect(rowPromptText({ prompt: "p" })).toBe("p");
    expect(
      rowPromptText({
        prompt: [
          { role: "user", content: "a" },
          { role: "user", content: "b" },
        ],
      }),
    ).toBe("a\nb");
    expect(
      rowPromptText({
        messages: [
          { role: "user", content: "q" },
          { role: "assistant", content: "answer" },
        ],
      }),
    ).toBe("q");
    expect(rowPromptText({ question: "what?" })).toBe("what?");
    expect(rowPromptText({ answer: "4" })).toBeNull();
  });
});
