#!/usr/bin/env node
/**
 * Records the small WebAssembly modules Pyodide compiles from bytes at run time (Emscripten's "JS
 * function → wasm function" adapters and its call trampoline), so workerd, which compiles no WASM from
 * bytes, can be handed pre-built ones (rewards/verifiers/code/python/engine.ts matches them by their
 * bytes).
 *
 * It boots the Python sandbox in Node with WebAssembly.Module wrapped, runs a workload that touches
 * every path the sandbox uses (tests, stdin/stdout, exceptions, limits, rebuilds), and writes each
 * distinct byte string to rewards/verifiers/code/python/adapters/<sha256 prefix, as letters>.wasm plus index.ts,
 * which imports them. The 8-byte module Pyodide compiles to probe for WebAssembly construction is left
 * out on purpose: unmatched in workerd, it keeps Pyodide off its JSPI paths.
 *
 *   npx tsx --import ./scripts/node-data-imports.mjs scripts/record-pyodide-adapters.mjs          # write the files
 *   npx tsx --import ./scripts/node-data-imports.mjs scripts/record-pyodide-adapters.mjs --check  # exit 1 if the committed files differ
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "rewards/verifiers/code/python/adapters");
const check = process.argv.includes("--check");
const PROBE = "0061736d01000000";

// The main module (pyodide.asm.wasm, or its fuel-metered copy from scripts/meter-wasm.mjs) is compiled from
// bytes in Node too; workerd imports it as a file.
const MAIN_HEXES = new Set([
  (
    await readFile(join(dirname(createRequire(import.meta.url).resolve("pyodide/package.json")), "pyodide.asm.wasm"))
  ).toString("hex"),
  (await readFile(join(root, "rewards/verifiers/code/python/wasm/pyodide-metered.wasm"))).toString("hex"),
]);

const seen = new Map();
const Original = WebAssembly.Module;
WebAssembly.Module = new Proxy(Original, {
  construct(target, args, newTarget) {
    const b = args[0];
    const bytes = b instanceof Uint8Array ? b : b instanceof ArrayBuffer ? new Uint8Array(b) : null;
    if (bytes) {
      const hex = Buffer.from(bytes).toString("hex");
      if (hex !== PROBE && !MAIN_HEXES.has(hex) && !seen.has(hex)) seen.set(hex, Buffer.from(bytes));
    }
    return Reflect.construct(target, args, newTarget);
  },
});

const { PyodideSandbox } = await import("../rewards/verifiers/code/python/sandbox.ts");
const { nodePyodideAssets } = await import("../rewards/verifiers/code/python/node-assets.ts");
const sandbox = new PyodideSandbox({ assets: nodePyodideAssets });
const limits = { timeMs: 1000, memoryBytes: 64 * 2 ** 20, outputBytes: 1 << 20 };
const workload = [
  { kind: "tests", code: "def f(x):\n    return x + 1\n", tests: "assert f(1) == 2\nprint('ok')" },
  { kind: "tests", code: "def f(x):\n    return x\n", tests: "assert f(1) == 2, 'no'" },
  {
    kind: "tests",
    code: "import math, json, re, collections, itertools, functools, heapq, decimal, fractions, hashlib\nprint(hashlib.md5(b'x').hexdigest())",
    tests: "pass",
  },
  { kind: "tests", code: "raise ValueError('x')", tests: "pass" },
  { kind: "tests", code: "def f(:", tests: "pass" },
  { kind: "tests", code: "import sys\nsys.exit(0)", tests: "pass" },
  { kind: "tests", code: "import os\nos._exit(0)", tests: "pass" },
  { kind: "tests", code: "while True:\n    pass", tests: "pass" },
  { kind: "tests", code: "a = []\nwhile True:\n    a.append(bytearray(10**6))", tests: "pass" },
  { kind: "tests", code: "while True:\n    print('x' * 1000)", tests: "pass" },
  { kind: "tests", code: "def r(n):\n    return r(n + 1)\nr(0)", tests: "pass" },
  {
    kind: "tests",
    code: "import asyncio\nasync def m():\n    await asyncio.sleep(0)\n    return 1\nprint(asyncio.run(m()))",
    tests: "pass",
  },
  { kind: "stdio", code: "import sys\nn = int(input())\nprint(n * 2)\nprint(sys.stdin.read())", stdin: "21\nabc\n" },
  { kind: "tests", code: "open('/tmp/x', 'w').write('y')\nimport os\nos.remove('/tmp/x')", tests: "pass" },
];
for (let round = 0; round < 2; round++)
  for (const job of workload) {
    const o = await sandbox.run(job, limits);
    if (process.env.DEBUG) console.log(job.code.slice(0, 30), o.limit ?? o.loadError ?? o.runError ?? "ok");
  }
WebAssembly.Module = Original;

const files = new Map();
for (const [hex, bytes] of [...seen].sort(([a], [b]) => a.localeCompare(b))) {
  // Letters only (hex digits mapped to a–p), so every sort order agrees with biome's natural one.
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const name = `${[...digest].map((c) => String.fromCharCode(97 + Number.parseInt(c, 16))).join("")}.wasm`;
  files.set(name, { hex, bytes });
}
// Laid out as biome formats it (imports sorted by path, entries wrapped past 120 columns).
const names = [...files.keys()].sort();
const entry = (n, i) => {
  const line = `  ["${files.get(n).hex}", m${i}],`;
  return line.length <= 120 ? line : `  [\n    "${files.get(n).hex}",\n    m${i},\n  ],`;
};
const index = `// Generated by scripts/record-pyodide-adapters.mjs: do not edit.
// The WebAssembly modules Pyodide 314.0.7 compiles from bytes at run time, compiled ahead of time for workerd.
${names.map((n, i) => `import m${i} from "./${n}";`).join("\n")}

/** Each module by the hex of the bytes Pyodide would compile it from. */
export const PYODIDE_ADAPTERS: ReadonlyMap<string, WebAssembly.Module> = new Map([
${names.map(entry).join("\n")}
]);
`;

if (check) {
  let bad = 0;
  const present = new Set((await readdir(outDir).catch(() => [])).filter((f) => f.endsWith(".wasm")));
  for (const [name, { bytes }] of files) {
    const cur = await readFile(join(outDir, name)).catch(() => null);
    if (!cur?.equals(bytes)) {
      console.error(`differs or missing: ${name}`);
      bad++;
    }
    present.delete(name);
  }
  for (const extra of present) {
    console.error(`not recorded any more: ${extra}`);
    bad++;
  }
  const curIndex = await readFile(join(outDir, "index.ts"), "utf8").catch(() => "");
  if (curIndex !== index) {
    console.error("index.ts differs");
    bad++;
  }
  console.log(`${files.size} adapter modules recorded; ${bad ? `${bad} differences` : "the committed files match"}`);
  process.exit(bad ? 1 : 0);
}
await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });
for (const [name, { bytes }] of files) await writeFile(join(outDir, name), bytes);
await writeFile(join(outDir, "index.ts"), index);
// The sandbox keeps timers alive: exit explicitly once the files are written.
console.log(`${files.size} adapter modules written to ${outDir} (${sandbox.stats.builds} boots)`);
process.exit(0);
