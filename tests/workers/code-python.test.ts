import { beforeAll, describe, expect, it } from "vitest";
import { pythonSandbox } from "../../sandbox/pyodide";
import { expectHealthy as healthy, runGrader as run, sandboxStats, warmPython } from "./helpers";

const py = (extra: Record<string, unknown> = {}) => ({
  type: "code_tests",
  name: "py",
  language: "python",
  tests: "{{item.test}}",
  ...extra,
});
const pass = { score: 1, valid: true, reason: "all tests passed", metrics: { tests: { score: 1 } } };
const fail = (reason: string) => ({ score: 0, valid: true, reason, metrics: { tests: { score: 0, reason } } });
const test = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n";
const limits = { timeMs: 2_000, memoryBytes: 64 * 2 ** 20, outputBytes: 1 << 20 };

describe("POST /v1/graders/run with a Python code_tests grader", () => {
  beforeAll(warmPython, 180_000);

  it("scores a batch of Python completions in order, runaway ones at their limit, and keeps serving", async () => {
    const out = await run(py({ timeout_ms: 500 }), [
      { completion: "def add(a, b):\n    return a + b\n", item: { test } },
      { completion: "def add(a, b):\n    while True:\n        pass\n", item: { test } },
      { completion: "def add(a, b):\n    return a * b\n", item: { test } },
      { completion: "while True:\n    print('spam' * 100)\n", item: { test } },
      { completion: "Here it is:\n```python\ndef add(a, b):\n    return b + a\n```\n", item: { test } },
      { completion: "def add(a, b) return a + b", item: { test } },
    ]);
    expect(out.results).toEqual([
      pass,
      fail("time limit exceeded (500 ms)"),
      fail("1 assertion failed; first: AssertionError (tests.py line 1)"),
      fail("output limit exceeded (1024 KiB)"),
      pass,
      fail("the code failed to load: SyntaxError: expected ':' (solution.py, line 1)"),
    ]);
    expect(out.summary).toMatchObject({ count: 6, validCount: 6 });
    await healthy();
  });

  it("runs HumanEval-style tests: check(candidate) is called with the entry point", async () => {
    const humaneval = "def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n    assert candidate([]) == 0\n";
    const out = await run(py({ entry_point: "total" }), [
      { completion: "def total(xs):\n    return sum(xs)\n", item: { test: humaneval } },
      { completion: "def total(xs):\n    return len(xs)\n", item: { test: humaneval } },
      { completion: "def total(xs):\n    return sum(xs)\nimport sys\nsys.exit(0)\n", item: { test: humaneval } },
    ]);
    expect(out.results).toEqual([
      pass,
      fail("1 assertion failed; first: AssertionError (tests.py line 2)"),
      fail("the code failed to load: the code called sys.exit(0)"),
    ]);
  });

  it("scores stdin/stdout cases by the share passed, with each case in the metrics", async () => {
    const cases = [
      { input: "2 3\n", output: "5\n" },
      { input: "10 -4\n", output: "6" },
      { input: "1 1\n", output: "3\n" },
    ];
    const out = await run(py({ tests: cases }), [
      { completion: "a, b = map(int, input().split())\nprint(a + b)\n", item: {} },
      { completion: "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\nsys.exit(0)\n", item: {} },
      { completion: "print(int(input()) + 1)\n", item: {} },
    ]);
    expect(out.results[0]).toEqual({
      score: 2 / 3,
      valid: true,
      reason: 'case 3: wrong output, line 1: expected "3", got "2"'.replace(/^/, "2 of 3 cases passed; "),
      metrics: {
        case_1: { score: 1 },
        case_2: { score: 1 },
        case_3: { score: 0, reason: 'wrong output, line 1: expected "3", got "2"' },
      },
    });
    expect(out.results[1]).toMatchObject({ score: 2 / 3, valid: true });
    expect(out.results[2]).toMatchObject({ score: 0, valid: true, metrics: { case_1: { score: 0 } } });
    expect(out.results[2].metrics.case_1.reason).toMatch(/ValueError/);
  });

  it("stops a memory bomb at the grader's memory limit and the next sample still passes", async () => {
    const out = await run(py({ memory_mb: 32 }), [
      { completion: "x = [bytearray(2**20) for _ in range(100)]\ndef add(a, b):\n    return a + b\n", item: { test } },
      { completion: "def add(a, b):\n    return a + b\n", item: { test } },
    ]);
    expect(out.results).toEqual([fail("memory limit exceeded (32 MB)"), pass]);
  });
});

describe("the Python sandbox's clean interpreter per run", () => {
  const poisons: [string, string, string][] = [
    ["a patched module function", "import math\nmath.sqrt = lambda x: 0", "import math\nassert math.sqrt(4) == 2.0"],
    [
      "a class attribute in a loaded module",
      "import json\njson.JSONEncoder.item_separator = '!!'",
      "import json\nassert json.dumps([1, 2]) == '[1, 2]'",
    ],
    [
      "the decimal context",
      "import decimal\ndecimal.getcontext().prec = 3",
      "import decimal\nassert str(decimal.Decimal(1) / decimal.Decimal(3)) == '0.' + '3' * 28",
    ],
    [
      "a file written in the scratch filesystem",
      "open('/tmp/leak.txt', 'w').write('x')\nopen('/home/sandbox/leak.txt', 'w').write('x')",
      "import os\nassert not os.path.exists('/tmp/leak.txt') and not os.path.exists('/home/sandbox/leak.txt')",
    ],
    [
      "the stdlib zip overwritten",
      "open('/lib/python314.zip', 'wb').write(b'junk')",
      "import csv, fnmatch, os\nassert os.path.getsize('/lib/python314.zip') > 10**6",
    ],
    [
      "sys.modules",
      "import sys, types\nsys.modules['json'] = types.SimpleNamespace(dumps=lambda x: 'fake')",
      "import json\nassert json.dumps([1]) == '[1]'",
    ],
    ["a builtin", "import builtins\nbuiltins.len = lambda x: 42", "assert len([1]) == 1"],
    ["os.environ", "import os\nos.environ['ASSAY_LEAK'] = '1'", "import os\nassert os.getenv('ASSAY_LEAK') is None"],
    [
      "the recursion limit",
      "import sys\nsys.setrecursionlimit(30)",
      "import sys\nassert sys.getrecursionlimit() >= 1000",
    ],
    [
      "a signal handler",
      "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
      "import signal\nassert signal.getsignal(signal.SIGINT) is signal.default_int_handler",
    ],
    ["the working directory", "import os\nos.chdir('/tmp')", "import os\nassert os.getcwd() == '/home/sandbox'"],
    ["sys.stdout replaced", "import sys, io\nsys.stdout = io.StringIO()", "print('visible')"],
  ];

  it.each(poisons)("does not carry %s from one run to the next", async (_what, poison, probe) => {
    const poisoned = await pythonSandbox.run({ kind: "tests", code: poison, tests: "pass" }, limits);
    expect(poisoned, JSON.stringify(poisoned)).toMatchObject({ completed: true });
    const probed = await pythonSandbox.run({ kind: "tests", code: "", tests: probe }, limits);
    expect(probed, JSON.stringify(probed)).toMatchObject({ completed: true, assertionFailures: 0 });
    if (probe === "print('visible')") expect(probed.stdout).toBe("visible\n");
  });

  it("restores after a time limit, a memory limit and os._exit without rebuilding the interpreter", async () => {
    // A 16 MB limit keeps the grown heap under the 32 MiB the sandbox zeroes instead of rebuilding.
    const builds = pythonSandbox.stats.builds;
    const runs = [
      "while True:\n    pass",
      "a = []\nwhile True:\n    a.append(bytearray(10**6))",
      "import os\nos._exit(0)",
    ];
    for (const code of runs) {
      const o = await pythonSandbox.run(
        { kind: "tests", code, tests: "pass" },
        { ...limits, timeMs: 300, memoryBytes: 16 * 2 ** 20 },
      );
      expect(o.completed).toBe(false);
      const ok = await pythonSandbox.run({ kind: "tests", code: "x = 1", tests: "assert x == 1" }, limits);
      expect(ok.completed).toBe(true);
    }
    expect(pythonSandbox.stats.builds).toBe(builds);
  });

  it("scores a WASM abort the code provoked 0 (its doing, not a skip) and rebuilds the interpreter for the next sample", async () => {
    const out = await run(py(), [{ completion: "import faulthandler\nfaulthandler._sigabrt()\n", item: { test } }]);
    expect(out.results[0]).toMatchObject({
      score: 0,
      valid: true,
      reason: expect.stringMatching(/^the code broke the sandbox: /),
    });
    expect(out.results[0]).not.toHaveProperty("error");
    const { builds } = (await sandboxStats()).python;
    const after = await run(py(), [{ completion: "def add(a, b):\n    return a + b\n", item: { test } }]);
    expect(after.results).toEqual([pass]);
    expect((await sandboxStats()).python.builds).toBe(builds + 1);
  });
});
