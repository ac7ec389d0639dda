/**
 * A whole GRPO step's rewards on the platform as `npm run dev` runs it (main Worker and the two sandbox
 * Workers, three workerd processes on this machine): 1,024 samples scored through POST /v1/graders/run as 4 concurrent
 * requests of 256, for HumanEval-X JavaScript and for HumanEval Python (canonical solutions, cycled), next
 * to the peer a harness without a sandbox uses: a child process per sample (`node -e`, `python3 -c`), as
 * many at once as the machine has cores. Prints each step's wall time and the ratio.
 *
 * Then the abuse corpora (tests/fixtures/code-abuse) go through the same sandbox Workers, and for each
 * sandbox Worker the WASM memory its engine held at its peak (its GET /stats) and its workerd process's
 * peak resident memory (VmHWM, which includes workerd itself, so it bounds the isolate's memory from
 * above) are printed, with the three Workers' bundle sizes from `wrangler deploy --dry-run`.
 * Run: npm run bench -- grpo-step
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { api, type DevServer, fmt, groupCpuSeconds, ROOT, startDev } from "./lib/wrangler-dev";

const CORPORA = join(ROOT, "../shared/corpora/code");
const STEP = 1024;
const REQUESTS = 4;
const CORES = availableParallelism();

interface Problem {
  task_id: string;
  prompt: string;
  canonical_solution: string;
  test: string;
  entry_point?: string;
}

function load(file: string): Problem[] {
  return gunzipSync(readFileSync(join(CORPORA, file)))
    .toString("utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Problem);
}

const LANGS = {
  javascript: {
    file: "humaneval_js.jsonl.gz",
    // JavaScript/162 needs the js-md5 package.
    keep: (p: Problem) => p.task_id !== "JavaScript/162",
    grader: { type: "code_tests", name: "humaneval", language: "javascript", tests: "{{item.test}}" },
    item: (p: Problem) => ({ test: p.test }),
    peer: (p: Problem): [string, string[]] => [
      process.execPath,
      [
        "-e",
        `console.assert = (c) => { if (!c) process.exitCode = 1 };\n${p.prompt}${p.canonical_solution}\n${p.test}`,
      ],
    ],
  },
  python: {
    file: "HumanEval.jsonl.gz",
    keep: () => true,
    grader: {
      type: "code_tests",
      name: "humaneval",
      language: "python",
      tests: "{{item.test}}",
      entry_point: "{{item.entry_point}}",
    },
    item: (p: Problem) => ({ test: p.test, entry_point: p.entry_point }),
    peer: (p: Problem): [string, string[]] => [
      process.env.PYTHON ?? "/usr/bin/python3",
      ["-c", `${p.prompt}${p.canonical_solution}\n${p.test}\ncheck(${p.entry_point})`],
    ],
  },
} as const;

async function step(server: DevServer, lang: keyof typeof LANGS, problems: Problem[]) {
  const spec = LANGS[lang];
  const samples = Array.from({ length: STEP }, (_, i) => {
    const p = problems[i % problems.length]!;
    return { completion: p.prompt + p.canonical_solution, item: spec.item(p) };
  });
  const per = STEP / REQUESTS;
  const groups = {
    main: server.mainPid,
    ...Object.fromEntries(Object.entries(server.sandboxes).map(([k, v]) => [k, v.pid])),
  };
  // Each group's workerd apart from wrangler's own Node process (which proxies cross-process bindings).
  const sample = () =>
    Object.entries(groups).map(
      ([k, pid]) => [k, groupCpuSeconds(pid, "workerd"), groupCpuSeconds(pid, "node")] as const,
    );
  const cpu0 = sample();
  const t0 = performance.now();
  const outs = await Promise.all(
    Array.from({ length: REQUESTS }, (_, r) =>
      api(server, "POST", "/v1/graders/run", {
        grader: spec.grader,
        samples: samples.slice(r * per, (r + 1) * per),
        deadlineMs: 60_000,
      }),
    ),
  );
  const wall = performance.now() - t0;
  const cpu1 = sample();
  const cpu = cpu0
    .map(([k, w, n], i) => `${k} ${(cpu1[i]![1] - w).toFixed(2)} s workerd + ${(cpu1[i]![2] - n).toFixed(2)} s node`)
    .join(", ");
  const results = outs.flatMap((o) => o.results as { score: number; valid: boolean }[]);
  return { wall, cpu, passed: results.filter((r) => r.valid && r.score === 1).length };
}

async function peer(lang: keyof typeof LANGS, problems: Problem[]) {
  const spec = LANGS[lang];
  let next = 0;
  let passed = 0;
  const one = (p: Problem) =>
    new Promise<boolean>((resolve) => {
      const [cmd, args] = spec.peer(p);
      const child = spawn(cmd, args, { stdio: "ignore", timeout: 10_000 });
      child.on("exit", (status) => resolve(status === 0));
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CORES }, async () => {
      while (next < STEP) {
        const i = next++;
        if (await one(problems[i % problems.length]!)) passed++;
      }
    }),
  );
  return { wall: performance.now() - t0, passed };
}

/**
 * A sandbox Worker's workerd: of the workerd processes in its `wrangler dev`'s process group (wrangler
 * runs a small one of its own beside the runtime), the one with the highest peak.
 */
function peakMemoryMiB(pgid: number): number | null {
  const ps = spawnSync("ps", ["-o", "pid=,comm=", "-g", String(pgid)], { encoding: "utf8" });
  const peaks = ps.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm === "workerd")
    .map(([pid]) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
  return peaks.length ? Math.max(...peaks) : null;
}

async function abuseCorpora(server: DevServer) {
  let cases = 0;
  for (const file of ["js.jsonl", "python.jsonl"]) {
    const lines = readFileSync(join(ROOT, "tests/fixtures/code-abuse", file), "utf8").split("\n");
    for (const line of lines.filter((l) => l.trim())) {
      const c = JSON.parse(line);
      await api(server, "POST", "/v1/graders/run", {
        grader: {
          type: "code_tests",
          name: c.id,
          language: c.language,
          tests: "{{item.test}}",
          timeout_ms: c.timeout_ms ?? 1_000,
          memory_mb: c.memory_mb ?? 64,
        },
        samples: [{ completion: c.code, item: { test: c.tests } }],
        deadlineMs: 60_000,
      });
      cases++;
    }
  }
  return cases;
}

function bundleSize(config: string): string {
  const r = spawnSync(join(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "-c", config], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    encoding: "utf8",
  });
  return /Total Upload: (.*)/.exec(r.stdout)?.[1] ?? `not reported (exit ${r.status})`;
}

async function main() {
  if (!existsSync(join(CORPORA, "HumanEval.jsonl.gz"))) {
    console.log(`skipped: ${CORPORA} is absent (the shared corpora live one level above the repo)`);
    return;
  }
  const server = await startDev();
  try {
    console.log(
      `A GRPO step: ${STEP} samples as ${REQUESTS} concurrent requests of ${STEP / REQUESTS}, ${CORES} cores`,
    );
    console.log("");
    console.log("                              step wall   passed    peer wall   passed   ratio");
    const langs = (process.env.BENCH_LANGS ?? "javascript,python").split(",") as (keyof typeof LANGS)[];
    for (const lang of langs) {
      const problems = load(LANGS[lang].file).filter(LANGS[lang].keep);
      // Warm: the first sample in each sandbox process boots its interpreter; 64 samples are four calls,
      // two per copy.
      const warm = {
        completion: problems[0]!.prompt + problems[0]!.canonical_solution,
        item: LANGS[lang].item(problems[0]!),
      };
      await api(server, "POST", "/v1/graders/run", {
        grader: LANGS[lang].grader,
        samples: Array.from({ length: 64 }, () => warm),
        deadlineMs: 60_000,
      });
      const ours = await step(server, lang, problems);
      const theirs = await peer(lang, problems);
      console.log(`  CPU during the step: ${ours.cpu}`);
      console.log(
        `${lang.padEnd(12)} on wrangler dev ${`${fmt(ours.wall)} ms`.padStart(10)} ${String(ours.passed).padStart(8)} ${`${fmt(theirs.wall)} ms`.padStart(12)} ${String(theirs.passed).padStart(8)} ${(theirs.wall / ours.wall).toFixed(1).padStart(6)}x`,
      );
    }
    // Each sandbox Worker's memory: the WASM its engine holds (its own /stats) and its workerd's peak RSS.
    const memory = async () =>
      Promise.all(
        (["js", "js2", "python", "python2"] as const).map(async (name) => {
          const { url, pid } = server.sandboxes[name];
          const stats = (await (await fetch(`${url}/stats`)).json()) as { wasmBytes: { peak: number } };
          return [name, (stats.wasmBytes.peak / 2 ** 20).toFixed(0), peakMemoryMiB(pid)] as const;
        }),
      );
    const afterHumanEval = await memory();
    const cases = await abuseCorpora(server);
    const afterAbuse = await memory();
    console.log("");
    console.log("sandbox Worker memory                 WASM memory held (peak)   workerd process peak RSS (VmHWM)");
    for (const [what, rows] of [
      ["after HumanEval", afterHumanEval],
      [`after ${cases} abuse cases`, afterAbuse],
    ] as const)
      for (const [name, wasm, rss] of rows)
        console.log(
          `${`${name.padEnd(7)} ${what}`.padEnd(37)} ${`${wasm} MiB`.padStart(12)} ${`${rss?.toFixed(0)} MiB`.padStart(24)}`,
        );
  } finally {
    await server.stop();
  }
  console.log(`bundle, main Worker           (wrangler.toml):                ${bundleSize("wrangler.toml")}`);
  for (const name of ["js", "python"])
    console.log(
      `bundle, ${`${name} sandbox Worker`.padEnd(21)} (sandbox/${name}/wrangler.toml): ${bundleSize(`sandbox/${name}/wrangler.toml`)}`,
    );
}

await main();
