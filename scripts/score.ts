#!/usr/bin/env -S node_modules/.bin/tsx
// `npm run score -- --reward <name> --file samples.jsonl` (or `--grader grader.json`): scores a JSONL file of
// samples locally in Node with the same engine the Worker uses, and prints a summary and the worst samples.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as z from "zod";
import { nodeContext, nodeServices } from "../functions/lib/node-services";
import { DEFAULT_DEADLINE_MS, MAX_DEADLINE_MS, scoreBatch, summarize } from "../rewards/core/engine";
import type { Scorer } from "../rewards/core/grader";
import type { RewardResult, Sample } from "../rewards/core/types";
import { buildGrader, GraderConfigError } from "../rewards/graders/index";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
/** Files this short finish before a bar would tell anyone anything. */
const PROGRESS_MIN = 50;

const SampleLine = z.object({
  completion: z.string(),
  item: z.record(z.string(), z.unknown()),
  group: z.union([z.string(), z.number()]).optional(),
});

/** Bad arguments (`usage`: print the usage text too) or bad input: exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}

/** Parses a JSONL file of samples; every bad line is reported (up to 10), not just the first. */
export function parseSamples(text: string, source: string): { samples: Sample[]; lines: number[] } {
  const samples: Sample[] = [];
  const lines: number[] = [];
  const problems: string[] = [];
  text.split("\n").forEach((raw, i) => {
    if (!raw.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      problems.push(`${source}:${i + 1}: not valid JSON`);
      return;
    }
    // A cases file's line ({ name, sample, expect }) scores its sample.
    const isCase = value !== null && typeof value === "object" && "sample" in value && !("completion" in value);
    const parsed = SampleLine.safeParse(isCase ? (value as { sample: unknown }).sample : value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      problems.push(`${source}:${i + 1}: ${issue.path.join(".") || "(line)"}: ${issue.message}`);
      return;
    }
    samples.push(parsed.data);
    lines.push(i + 1);
  });
  if (problems.length > 0) {
    const more = problems.length > 10 ? `\n  … and ${problems.length - 10} more` : "";
    throw new UsageError(`bad samples in ${source}:\n  ${problems.slice(0, 10).join("\n  ")}${more}`);
  }
  if (samples.length === 0) throw new UsageError(`${source} holds no samples`);
  return { samples, lines };
}

/** A progress bar on stderr, redrawn at most every 100 ms; a no-op when disabled. */
function progressBar(total: number, enabled: boolean) {
  const started = performance.now();
  let done = 0;
  let drawn = 0;
  const draw = () => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const rate = done / Math.max(0.001, (performance.now() - started) / 1000);
    const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
    const pct = Math.floor((done / total) * 100);
    process.stderr.write(
      `\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${pct}% ${rate.toFixed(0)}/s eta ${eta}s `,
    );
  };
  return {
    tick() {
      done++;
      if (!enabled) return;
      const now = performance.now();
      if (now - drawn >= 100 || done === total) {
        drawn = now;
        draw();
      }
    },
    finish() {
      if (!enabled) return;
      // Samples cut off by their deadline may never have ticked.
      if (done !== total) {
        done = total;
        draw();
      }
      process.stderr.write("\n");
    },
  };
}

export interface ScoreReport {
  scorer: string;
  file: string;
  summary: {
    count: number;
    validCount: number;
    invalidCount: number;
    mean: number | null;
    latencyMs: { p50: number; p99: number; max: number };
    wallMs: number;
  };
  /** The lowest-scoring valid samples, lowest first (ties in file order). */
  worst: { line: number; score: number; reason?: string; metrics?: RewardResult["metrics"]; completion: string }[];
  /** Samples the evaluator failed on, in file order. */
  invalid: { line: number; error: { code: string; message: string } }[];
}

const excerpt = (s: string, n = 120) => {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
};

function report(
  scorer: string,
  file: string,
  lines: number[],
  samples: Sample[],
  results: RewardResult[],
  latencies: number[],
  wallMs: number,
  worstN: number,
): ScoreReport {
  const summary = summarize(results, latencies, wallMs);
  const indexed = results.map((r, i) => ({ r, i }));
  const worst = indexed
    .filter(({ r }) => r.valid)
    .sort((a, b) => a.r.score - b.r.score || a.i - b.i)
    .slice(0, worstN)
    .map(({ r, i }) => ({
      line: lines[i]!,
      score: r.score,
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.metrics ? { metrics: r.metrics } : {}),
      completion: excerpt(samples[i]!.completion),
    }));
  const invalid = indexed
    .filter(({ r }) => !r.valid)
    .map(({ r, i }) => ({
      line: lines[i]!,
      error: r.error ?? { code: "EVALUATOR_ERROR", message: "evaluator failed" },
    }));
  return {
    scorer,
    file,
    summary: {
      count: summary.count,
      validCount: summary.validCount,
      invalidCount: summary.count - summary.validCount,
      mean: summary.mean,
      latencyMs: summary.latency,
      wallMs: summary.latencyMs,
    },
    worst,
    invalid,
  };
}

function printText(r: ScoreReport, worstN: number) {
  const s = r.summary;
  const mean = s.mean === null ? "n/a" : s.mean.toFixed(4);
  const out = [
    `${r.scorer}  ${r.file}`,
    `  count ${s.count}  valid ${s.validCount}  invalid ${s.invalidCount}  mean ${mean}`,
    `  latency p50 ${s.latencyMs.p50} ms  p99 ${s.latencyMs.p99} ms  max ${s.latencyMs.max} ms  wall ${s.wallMs} ms`,
  ];
  if (r.worst.length > 0) {
    out.push("", `worst ${r.worst.length} (lowest score first):`);
    for (const w of r.worst) {
      out.push(`  line ${w.line}  score ${w.score.toFixed(4)}  ${w.reason ?? ""}`.trimEnd());
      out.push(`    completion: ${w.completion}`);
    }
  }
  if (r.invalid.length > 0) {
    out.push("", `invalid ${r.invalid.length} (evaluator failed):`);
    for (const v of r.invalid.slice(0, worstN)) out.push(`  line ${v.line}  ${v.error.code}  ${v.error.message}`);
    if (r.invalid.length > worstN) out.push(`  … and ${r.invalid.length - worstN} more (--json lists all)`);
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

const USAGE = `Usage: npm run score -- (--reward <name> | --grader <grader.json>) --file <samples.jsonl> [options]

  --reward <name>       an authored reward (rewards/modules)
  --grader <path>       a grader config in a JSON file (any type, e.g. {"type":"string_check",...})
  --file <path>         samples, one JSON object a line: {"completion", "item", "group"?}
                        (a rewards/modules/*.cases.jsonl file works too)
  --worst <n>           how many lowest-scoring samples to show (default 5)
  --deadline-ms <ms>    per-sample deadline (default ${DEFAULT_DEADLINE_MS}, at most ${MAX_DEADLINE_MS})
  --concurrency <n>     samples scored at once (default 8)
  --fixtures <dir>      folder of fixtures (<name>.sqlite or <name>.sql); repeatable
  --schemas <dir>       folder of JSON Schemas (*.json, found by their $id) for json_schema graders; repeatable
  --json                print the report as JSON on stdout
  --progress / --no-progress   force the progress bar on or off (default: on when stderr is a
                        terminal and the file has over ${PROGRESS_MIN} samples)

Exit status: 0 when the file was scored (even if some samples are invalid), 2 on bad arguments or input.`;

function positiveInt(value: string | undefined, flag: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`${flag} must be an integer from 1 to ${max}`, true);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const parse = (a: string[]) =>
    parseArgs({
      args: a,
      options: {
        reward: { type: "string" },
        grader: { type: "string" },
        file: { type: "string" },
        worst: { type: "string" },
        "deadline-ms": { type: "string" },
        concurrency: { type: "string" },
        fixtures: { type: "string", multiple: true },
        schemas: { type: "string", multiple: true },
        json: { type: "boolean", default: false },
        progress: { type: "boolean" },
        "no-progress": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  try {
    const o = parse(argv).values;
    if (o.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (!o.reward === !o.grader) throw new UsageError("give exactly one of --reward <name> and --grader <file>", true);
    if (!o.file) throw new UsageError("--file <samples.jsonl> is required", true);
    const worstN = o.worst === undefined ? 5 : Number(o.worst);
    if (!Number.isInteger(worstN) || worstN < 0) throw new UsageError("--worst must be an integer >= 0", true);
    const deadlineMs = positiveInt(o["deadline-ms"], "--deadline-ms", DEFAULT_DEADLINE_MS, MAX_DEADLINE_MS);
    const concurrency = positiveInt(o.concurrency, "--concurrency", 8, 256);

    let config: unknown;
    if (o.reward) config = { type: "reward", name: o.reward };
    else {
      if (!existsSync(o.grader!)) throw new UsageError(`no such grader file: ${o.grader}`);
      try {
        config = JSON.parse(readFileSync(o.grader!, "utf8"));
      } catch {
        throw new UsageError(`${o.grader} is not valid JSON`);
      }
    }
    let grader: ReturnType<typeof buildGrader>;
    try {
      grader = buildGrader(config);
    } catch (err) {
      if (err instanceof GraderConfigError) throw new UsageError(`invalid grader: ${err.message}`);
      throw err;
    }

    if (!existsSync(o.file)) throw new UsageError(`no such file: ${o.file}`);
    const { samples, lines } = parseSamples(readFileSync(o.file, "utf8"), o.file);

    const fixtureDirs = [...(o.fixtures ?? []), join(ROOT, "rewards", "modules", "fixtures")];
    const services = await nodeServices({ fixtureDirs, schemaDirs: o.schemas ?? [] });
    const context = nodeContext({ fixtureDirs, services });
    const auto = Boolean(process.stderr.isTTY) && samples.length > PROGRESS_MIN;
    const showBar = o["no-progress"] ? false : (o.progress ?? auto);
    const bar = progressBar(samples.length, showBar);
    const counted: Scorer = async (sample, ctx) => {
      try {
        return await grader.score(sample, ctx);
      } finally {
        bar.tick();
      }
    };
    const outcome = await scoreBatch(counted, samples, { deadlineMs, concurrency, context });
    bar.finish();

    const r = report(
      grader.ref,
      o.file,
      lines,
      samples,
      outcome.results,
      outcome.latencies,
      outcome.summary.latencyMs,
      worstN,
    );
    if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else printText(r, worstN);
    return 0;
  } catch (err) {
    const argsError = (err as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS");
    if (err instanceof UsageError || argsError) {
      const usage = argsError || (err as UsageError).usage ? `\n\n${USAGE}` : "";
      process.stderr.write(`score: ${(err as Error).message}${usage}\n`);
      return 2;
    }
    throw err;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`score: ${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
