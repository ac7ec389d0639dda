import { describe, expect, it } from "vitest";
import { corpus, hasCorpora } from "./corpora";

describe.runIf(hasCorpora())("the shared corpora", () => {
  it("reach tests inside workerd over loopback", async () => {
    const res = await corpus("sql/spider_gold_pairs.json");
    const pairs = (await res!.json()) as unknown[];
    expect(pairs).toHaveLength(207);
  });
});
