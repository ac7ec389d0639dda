import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { percentile, scoreGroups, zeroVarianceGroups } from "../../rewards/core/stats";
import { tryRender } from "../../rewards/core/template";
import { randomHex, toHex } from "../../rewards/lib/hex";
import { LazyEngine } from "../../rewards/lib/lazy-engine";
import { Lru } from "../../rewards/lib/lru";
import { sha256Hex } from "../../rewards/lib/sha256";

describe("Lru", () => {
  it("evicts the least recently used entry once the count bound is passed", () => {
    const lru = new Lru<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    expect(lru.get("a")).toBe(1);
    lru.set("c", 3);
    expect([lru.get("a"), lru.get("b"), lru.get("c"), lru.size]).toEqual([1, undefined, 3, 2]);
  });

  it("bounds the total weight, replaces an entry's weight on set, and keeps nothing heavier than the bound", () => {
    const lru = new Lru<string, Uint8Array>(10, (b) => b.length);
    lru.set("a", new Uint8Array(4));
    lru.set("b", new Uint8Array(4));
    lru.set("a", new Uint8Array(2));
    lru.set("c", new Uint8Array(4));
    expect([lru.get("a")?.length, lru.get("b")?.length, lru.get("c")?.length]).toEqual([2, 4, 4]);
    // 2 + 4 + 4 + 3 = 13 > 10: the two least recently used (a, then b) go.
    lru.set("d", new Uint8Array(3));
    expect([lru.get("a"), lru.get("b"), lru.get("c")?.length, lru.get("d")?.length]).toEqual([
      undefined,
      undefined,
      4,
      3,
    ]);
    lru.set("huge", new Uint8Array(11));
    expect([lru.get("huge"), lru.size]).toEqual([undefined, 2]);
  });
});

describe("LazyEngine", () => {
  it("builds once for concurrent callers and hands out the same engine until it is dropped", async () => {
    let builds = 0;
    const built: number[] = [];
    const holder = new LazyEngine(async () => ({ id: ++builds }), { onBuilt: (e) => built.push(e.id) });
    const [a, b] = await Promise.all([holder.get(), holder.get()]);
    expect(a).toBe(b);
    expect(holder.isCurrent(a)).toBe(true);
    holder.drop(a);
    expect(holder.isCurrent(a)).toBe(false);
    const c = await holder.get();
    expect([a.id, c.id, built]).toEqual([1, 2, [1, 2]]);
  });

  it("rebuilds an engine that says it is no longer usable", async () => {
    let builds = 0;
    const holder = new LazyEngine(() => ({ id: ++builds, usable: true }), { usable: (e) => e.usable });
    const first = await holder.get();
    first.usable = false;
    expect((await holder.get()).id).toBe(2);
  });

  it("does not keep a failed build: the next call tries again", async () => {
    let calls = 0;
    const holder = new LazyEngine(() => {
      calls++;
      if (calls === 1) throw new Error("no wasm");
      return { id: calls };
    });
    await expect(holder.get()).rejects.toThrow("no wasm");
    expect(await holder.get()).toEqual({ id: 2 });
  });
});

describe("hex and SHA-256", () => {
  it("encodes bytes and ArrayBuffers as lower-case hex, and random nonces of the asked length", () => {
    expect(toHex(new Uint8Array([0, 1, 171, 255]))).toBe("0001abff");
    expect(toHex(new Uint8Array([16, 32]).buffer)).toBe("1020");
    expect(randomHex()).toMatch(/^[0-9a-f]{32}$/);
    expect(randomHex(4)).toMatch(/^[0-9a-f]{8}$/);
  });

  it("hashes a string as its UTF-8 bytes, the same as the bytes themselves", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex(new TextEncoder().encode("é"))).toBe(sha256Hex("é"));
    expect(sha256Hex("é")).toBe(createHash("sha256").update(Buffer.from("é", "utf8")).digest("hex"));
  });
});

describe("stats", () => {
  it("takes the nearest-rank percentile, 0 for no values", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 0), percentile([], 50)]).toEqual([
      5, 10, 1, 0,
    ]);
  });

  it("groups valid scores by sample group (1 and '1' apart), keeps groups of two or more, counts flat ones", () => {
    const samples = [1, 1, "1", "1", 2, 3, 3].map((group) => ({ completion: "", item: {}, group }));
    const results = [0.5, 0.5, 1, 0, 1, 0.2, 0.2].map((score) => ({ score, valid: true }));
    results[6] = { score: 0, valid: false };
    const groups = scoreGroups(samples, results);
    expect(groups).toEqual([
      [0.5, 0.5],
      [1, 0],
    ]);
    expect(zeroVarianceGroups(groups)).toBe(1);
  });
});

describe("tryRender", () => {
  const sample = { completion: 'answer: {"x": 1}', item: { a: "A" } };

  it("renders a template, and blames a missing item field on the dataset and a missing output value on the model", () => {
    expect(tryRender("{{item.a}}-{{sample.output_json.x}}", sample)).toEqual({ ok: true, value: "A-1" });
    expect(tryRender("{{item.b}} {{sample.output_json.x}}", sample)).toEqual({
      ok: false,
      blame: "item",
      message: "template reference {{item.b}} is missing from the sample",
    });
    expect(tryRender("{{item.a}} {{sample.output_json.y}}", sample)).toEqual({
      ok: false,
      blame: "model",
      message: "template reference {{sample.output_json.y}} is missing from the sample",
    });
  });
});
