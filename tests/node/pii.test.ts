import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findPii, type PiiKind, redactJson, redactText } from "../../functions/lib/pii";

interface Labelled {
  text: string;
  entities: { kind: PiiKind; text: string }[];
}

const DIR = join(import.meta.dirname, "../fixtures/pii");
const load = (file: string): Labelled[] =>
  readFileSync(join(DIR, file), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

const positives = load("positives.jsonl");
const lookalikes = load("lookalikes.jsonl");
/** Written after the rules were fixed and never tuned against: an honest estimate, with a lower bar. */
const heldout = load("heldout.jsonl");
const KINDS: PiiKind[] = ["email", "phone", "card", "iban", "ip", "secret"];

/** Per kind: true positives, false positives, false negatives, matching found and expected (kind, text) as multisets. */
function score(set: Labelled[]) {
  const tally = Object.fromEntries(KINDS.map((k) => [k, { tp: 0, fp: 0, fn: 0 }])) as Record<
    PiiKind,
    { tp: number; fp: number; fn: number }
  >;
  const misses: string[] = [];
  for (const item of set) {
    const expected = item.entities.map((e) => `${e.kind}\u0000${e.text}`);
    const found = findPii(item.text).map((m) => `${m.kind}\u0000${m.text}`);
    const left = [...expected];
    for (const f of found) {
      const kind = f.split("\u0000")[0] as PiiKind;
      const i = left.indexOf(f);
      if (i >= 0) {
        left.splice(i, 1);
        tally[kind].tp++;
      } else {
        tally[kind].fp++;
        misses.push(`FP ${f.replace("\u0000", ": ")}  in  ${JSON.stringify(item.text)}`);
      }
    }
    for (const l of left) {
      tally[l.split("\u0000")[0] as PiiKind].fn++;
      misses.push(`FN ${l.replace("\u0000", ": ")}  in  ${JSON.stringify(item.text)}`);
    }
  }
  return { tally, misses };
}

const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);

describe("PII redaction on the labelled set (tests/fixtures/pii)", () => {
  it("holds at least 200 labelled strings, positives and look-alikes", () => {
    expect(positives.length + lookalikes.length).toBeGreaterThanOrEqual(200);
    expect(lookalikes.every((l) => l.entities.length === 0)).toBe(true);
    for (const kind of KINDS) expect(positives.some((p) => p.entities.some((e) => e.kind === kind))).toBe(true);
  });

  it("reaches precision and recall of at least 0.98 per kind and overall", () => {
    const { tally, misses } = score([...positives, ...lookalikes]);
    const rows: string[] = [];
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const k of KINDS) {
      const t = tally[k];
      tp += t.tp;
      fp += t.fp;
      fn += t.fn;
      rows.push(
        `${k.padEnd(7)} precision ${ratio(t.tp, t.tp + t.fp).toFixed(3)}  recall ${ratio(t.tp, t.tp + t.fn).toFixed(3)}  (tp ${t.tp}, fp ${t.fp}, fn ${t.fn})`,
      );
    }
    const precision = ratio(tp, tp + fp);
    const recall = ratio(tp, tp + fn);
    rows.push(`overall precision ${precision.toFixed(3)}  recall ${recall.toFixed(3)}  (tp ${tp}, fp ${fp}, fn ${fn})`);
    console.log(
      `PII redaction on ${positives.length + lookalikes.length} strings:\n${rows.join("\n")}${misses.length ? `\n${misses.join("\n")}` : ""}`,
    );
    for (const k of KINDS) {
      const t = tally[k];
      expect({
        kind: k,
        precision: ratio(t.tp, t.tp + t.fp) >= 0.98,
        recall: ratio(t.tp, t.tp + t.fn) >= 0.98,
      }).toEqual({ kind: k, precision: true, recall: true });
    }
    expect(precision).toBeGreaterThanOrEqual(0.98);
    expect(recall).toBeGreaterThanOrEqual(0.98);
  });
});

describe("PII redaction on the held-out set (tests/fixtures/pii/heldout.jsonl)", () => {
  it("reaches precision and recall of at least 0.9 on strings the rules were not tuned on", () => {
    const { tally, misses } = score(heldout);
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const k of KINDS) {
      tp += tally[k].tp;
      fp += tally[k].fp;
      fn += tally[k].fn;
    }
    const precision = ratio(tp, tp + fp);
    const recall = ratio(tp, tp + fn);
    console.log(
      `PII redaction, held-out set of ${heldout.length} strings: precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)} (tp ${tp}, fp ${fp}, fn ${fn})${misses.length ? `\n${misses.join("\n")}` : ""}`,
    );
    expect(precision).toBeGreaterThanOrEqual(0.9);
    expect(recall).toBeGreaterThanOrEqual(0.9);
  });
});

describe("redactText and redactJson", () => {
  it("replaces each kind by its token and counts what it replaced", () => {
    expect(
      redactText(
        "mail bob@example.com, call +44 20 7946 0958, card 4111 1111 1111 1111, IBAN GB82WEST12345698765432, from 10.0.0.1 with AKIAIOSFODNN7EXAMPLE",
      ),
    ).toEqual({
      text: "mail <EMAIL>, call <PHONE>, card <CARD>, IBAN <IBAN>, from <IP> with <SECRET>",
      counts: { email: 1, phone: 1, card: 1, iban: 1, ip: 1, secret: 1 },
    });
  });

  it("keeps the Bearer scheme and replaces only the token", () => {
    expect(redactText("Authorization: Bearer abc123def456ghi789").text).toBe("Authorization: Bearer <SECRET>");
  });

  it("leaves Luhn-invalid numbers, bad IBAN check digits, dates and versions alone", () => {
    const text =
      "4111 1111 1111 1112, DE89370400440532013001, 2024-03-15, v1.2.3.4, 550e8400-e29b-41d4-a716-446655440000";
    expect(redactText(text)).toEqual({ text, counts: {} });
  });

  it("redacts strings inside nested objects and arrays, not keys or numbers", () => {
    const counts = {};
    expect(
      redactJson(
        { "a@b.co": "x@y.io", list: ["+1 212 555 0199", 42], deep: { ip: "8.8.8.8", n: 4111111111111111 } },
        counts,
      ),
    ).toEqual({ "a@b.co": "<EMAIL>", list: ["<PHONE>", 42], deep: { ip: "<IP>", n: 4111111111111111 } });
    expect(counts).toEqual({ email: 1, phone: 1, ip: 1 });
  });

  it("handles a hostile 1 MiB string of near-matches in one pass", () => {
    for (const unit of ["a", "1 ", "a.", "1.", ":", "a@", "eyJ", "+1", "-1", "AKIA"]) {
      const big = unit.repeat(Math.ceil((1 << 20) / unit.length));
      expect(typeof redactText(big).text).toBe("string");
    }
  });
});
