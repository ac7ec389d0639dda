import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rewardNames } from "../../rewards/registry";

const ROOT = join(__dirname, "../..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
/** Lets Node import data files (wordnet.bin) as workerd does. */
const DATA_IMPORTS = join(ROOT, "scripts", "node-data-imports.mjs");
const dir = mkdtempSync(join(tmpdir(), "assay-score-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function score(...args: string[]) {
  const r = spawnSync(TSX, ["--import", DATA_IMPORTS, "scripts/score.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lines = (...samples: unknown[]) => `${samples.map((s) => JSON.stringify(s)).join("\n")}\n`;

// Line 1 right, 2 wrong, 3 badly formatted, 4 blank, 5 a row without an answer (the evaluator's failure).
const samplesPath = file(
  "samples.jsonl",
  `${lines(
    { completion: "<think>2+2</think><answer>4</answer>", item: { answer: "4" } },
    { completion: "<think>2+2</think><answer>5</answer>", item: { answer: "4" } },
    { completion: "The answer is 4.", item: { answer: "4" } },
  )}\n${lines({ completion: "<think>?</think><answer>4</answer>", item: { question: "2+2?" } })}`,
);

describe("npm run score", () => {
  it("scores a JSONL file with an authored reward and prints a JSON report", () => {
    const r = score("--reward", "format-answer", "--file", samplesPath, "--json", "--worst", "2");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toEqual({
      scorer: expect.stringMatching(/^format-answer@[0-9a-f]{12}$/),
      file: samplesPath,
      summary: {
        count: 4,
        validCount: 3,
        invalidCount: 1,
        mean: 1 / 3,
        latencyMs: { p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) },
        wallMs: expect.any(Number),
      },
      worst: [
        {
          line: 2,
          score: 0,
          reason: "wrong answer: expected 4, got 5",
          metrics: {
            format: { score: 1 },
            correct: { score: 0, reason: "expected 4, got 5" },
            length: { score: 1, reason: "36 characters" },
          },
          completion: "<think>2+2</think><answer>5</answer>",
        },
        {
          line: 3,
          score: 0,
          reason: "format: missing <think>",
          metrics: { format: { score: 0, reason: "missing <think>" } },
          completion: "The answer is 4.",
        },
      ],
      invalid: [
        {
          line: 5,
          error: {
            code: "INVALID_INPUT",
            message: "item.answer: Invalid input: expected string or number, received undefined",
          },
        },
      ],
    });
    expect(r.stderr).toBe("");
  });

  it("prints a readable summary with the worst samples and the invalid ones", () => {
    const r = score("--reward", "format-answer", "--file", samplesPath, "--worst", "1");
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.split("\n");
    expect(out[0]).toMatch(/^format-answer@[0-9a-f]{12} {2}.*samples\.jsonl$/);
    expect(out[1]).toBe("  count 4  valid 3  invalid 1  mean 0.3333");
    expect(out[2]).toMatch(/^ {2}latency p50 [\d.]+ ms {2}p99 [\d.]+ ms {2}max [\d.]+ ms {2}wall [\d.]+ ms$/);
    expect(out.slice(3)).toEqual([
      "",
      "worst 1 (lowest score first):",
      "  line 2  score 0.0000  wrong answer: expected 4, got 5",
      "    completion: <think>2+2</think><answer>5</answer>",
      "",
      "invalid 1 (evaluator failed):",
      "  line 5  INVALID_INPUT  item.answer: Invalid input: expected string or number, received undefined",
      "",
    ]);
  });

  it("scores with any grader config given as a JSON file", () => {
    const grader = file("grader.json", JSON.stringify({ type: "reward", name: "format-answer" }));
    const r = score("--grader", grader, "--file", samplesPath, "--json");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect([report.scorer.split("@")[0], report.summary.count, report.summary.mean]).toEqual([
      "format-answer",
      4,
      1 / 3,
    ]);
  });

  it("scores with a built-in grader type too (json_schema)", () => {
    const grader = file(
      "json-grader.json",
      JSON.stringify({
        type: "json_schema",
        name: "shape",
        schema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
        partial_credit: false,
      }),
    );
    const samples = file(
      "json.jsonl",
      lines(
        { completion: '{"n": 3}', item: {} },
        { completion: '{"n": "three"}', item: {} },
        { completion: "nope", item: {} },
      ),
    );
    const r = score("--grader", grader, "--file", samples, "--json");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect([report.scorer, report.summary.count, report.summary.validCount, report.summary.mean]).toEqual([
      "json_schema",
      3,
      3,
      1 / 3,
    ]);
    expect(report.worst.map((w: { line: number; score: number }) => [w.line, w.score])).toEqual([
      [2, 0],
      [3, 0],
      [1, 1],
    ]);
  });

  it("scores with a python grader, booting the Python sandbox in Node", () => {
    const grader = file(
      "py-grader.json",
      JSON.stringify({
        type: "python",
        source: "def grade(sample, item):\n    return float(sample['output_text'] == item['answer'])",
      }),
    );
    const samples = file(
      "py.jsonl",
      lines({ completion: "4", item: { answer: "4" } }, { completion: "5", item: { answer: "4" } }),
    );
    const r = score("--grader", grader, "--file", samples, "--json");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect([report.scorer, report.summary.count, report.summary.validCount, report.summary.mean]).toEqual([
      "python",
      2,
      2,
      0.5,
    ]);
  });

  it("grades Python code with a code_tests grader, in the same Pyodide sandbox the Worker runs", () => {
    const grader = file(
      "py-grader.json",
      JSON.stringify({
        type: "code_tests",
        name: "py-add",
        language: "python",
        tests: "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n",
      }),
    );
    const samples = file(
      "py.jsonl",
      lines(
        { completion: "def add(a, b):\n    return a + b\n", item: {} },
        { completion: "def add(a, b):\n    return a - b\n", item: {} },
      ),
    );
    const r = score("--grader", grader, "--file", samples, "--json");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect([report.scorer, report.summary.count, report.summary.validCount, report.summary.mean]).toEqual([
      "code_tests",
      2,
      2,
      0.5,
    ]);
    expect(report.worst.map((w: { line: number; score: number }) => [w.line, w.score])).toEqual([
      [2, 0],
      [1, 1],
    ]);
  });

  it("resolves a json_schema grader's $ref to a schema registered by $id in a --schemas folder", () => {
    const schemas = mkdtempSync(join(dir, "schemas-"));
    writeFileSync(
      join(schemas, "point.json"),
      JSON.stringify({
        $id: "https://example.com/point.json",
        type: "object",
        properties: { x: { type: "number" } },
        required: ["x"],
      }),
    );
    const grader = file(
      "ref-grader.json",
      JSON.stringify({
        type: "json_schema",
        name: "point",
        schema: { $ref: "https://example.com/point.json" },
        partial_credit: false,
      }),
    );
    const samples = file(
      "ref.jsonl",
      lines({ completion: '{"x": 1}', item: {} }, { completion: '{"y": 1}', item: {} }),
    );
    const r = score("--grader", grader, "--file", samples, "--schemas", schemas, "--json");
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect([report.summary.count, report.summary.validCount, report.summary.mean]).toEqual([2, 2, 0.5]);
    // Without the folder the schema is unknown: the evaluator's failure, not the model's.
    const without = JSON.parse(score("--grader", grader, "--file", samples, "--json").stdout);
    expect([without.summary.count, without.summary.validCount]).toEqual([2, 0]);
  });

  it("scores the samples of a reward's cases file", () => {
    const cases = join(ROOT, "rewards", "modules", "format-answer.cases.jsonl");
    const r = score("--reward", "format-answer", "--file", cases, "--json");
    expect(r.status, r.stderr).toBe(0);
    const expected = readFileSync(cases, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l).expect.valid as boolean);
    const { summary } = JSON.parse(r.stdout);
    expect([summary.count, summary.validCount]).toEqual([expected.length, expected.filter(Boolean).length]);
  });

  it("draws a progress bar on stderr when asked (it is on by default only on a terminal)", () => {
    const r = score("--reward", "format-answer", "--file", samplesPath, "--progress");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\r\[#{30}\] 4\/4 100% \d+\/s eta 0s \n$/);
  });

  it("exits 2 and names every bad line when the samples file is malformed", () => {
    const bad = file("bad.jsonl", `${lines({ completion: "ok", item: {} }, { item: {} })}{not json\n`);
    const r = score("--reward", "format-answer", "--file", bad);
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: "" });
    expect(r.stderr).toBe(
      `score: bad samples in ${bad}:\n  ${bad}:2: completion: Invalid input: expected string, received undefined\n  ${bad}:3: not valid JSON\n`,
    );
  });

  it("exits 2 for an unknown reward, listing the known ones", () => {
    const r = score("--reward", "no-such-reward", "--file", samplesPath);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `score: invalid grader: name: unknown reward "no-such-reward"; known: ${rewardNames().join(", ")}\n`,
    );
  });

  it("exits 2 for an invalid grader file, a missing file and bad arguments", () => {
    const notJson = file("grader-bad.json", "{");
    const badType = file("grader-type.json", JSON.stringify({ type: "nope" }));
    const results = [
      score("--grader", notJson, "--file", samplesPath),
      score("--grader", badType, "--file", samplesPath),
      score("--reward", "format-answer", "--file", join(dir, "missing.jsonl")),
      score("--reward", "format-answer", "--file", file("empty.jsonl", "\n\n")),
      score("--reward", "format-answer"),
      score("--file", samplesPath),
      score("--reward", "format-answer", "--file", samplesPath, "--bogus"),
    ];
    expect(results.map((r) => [r.status, r.stdout, r.stderr.split("\n")[0]])).toEqual([
      [2, "", `score: ${notJson} is not valid JSON`],
      [2, "", expect.stringMatching(/^score: invalid grader: type: unknown grader type "nope"; known: .*\breward\b/)],
      [2, "", `score: no such file: ${join(dir, "missing.jsonl")}`],
      [2, "", `score: ${join(dir, "empty.jsonl")} holds no samples`],
      [2, "", "score: --file <samples.jsonl> is required"],
      [2, "", "score: give exactly one of --reward <name> and --grader <file>"],
      [2, "", expect.stringMatching(/^score: Unknown option '--bogus'/)],
    ]);
  });
});
