import { describe, expect, it } from "vitest";
import { ExpressionError, MAX_EXPRESSION_LENGTH, parseExpression } from "../../rewards/expr/index";

const run = (src: string, vars: Record<string, number> = {}) => parseExpression(src, Object.keys(vars)).evaluate(vars);
const error = (src: string, names: string[] = []) => {
  try {
    parseExpression(src, names);
  } catch (err) {
    if (err instanceof ExpressionError) return { message: err.message, offset: err.offset };
    throw err;
  }
  throw new Error(`parsed: ${src}`);
};

describe("calculate_output expressions", () => {
  it("follows arithmetic precedence", () => {
    expect([run("1 + 2 * 3"), run("(1 + 2) * 3"), run("10 - 4 / 2"), run("2 * 3 ^ 2")]).toEqual([7, 9, 8, 18]);
  });

  it("associates - and / to the left and ^ to the right", () => {
    expect([run("1 - 2 - 3"), run("8 / 4 / 2"), run("2 ^ 3 ^ 2"), run("(2 ^ 3) ^ 2")]).toEqual([-4, 1, 512, 64]);
  });

  it("binds unary minus looser than ^ and accepts a signed exponent", () => {
    expect([run("-2 ^ 2"), run("(-2) ^ 2"), run("2 ^ -1"), run("--3"), run("1 - -1")]).toEqual([-4, 4, 0.5, 3, 2]);
  });

  it("reads numbers with decimals and exponents", () => {
    expect([run(".5"), run("1."), run("2.5e-1"), run("1E2")]).toEqual([0.5, 1, 0.25, 100]);
  });

  it("evaluates every function", () => {
    expect([
      run("min(3, 1, 2)"),
      run("max(0.2)"),
      run("abs(-0.5)"),
      run("floor(1.7)"),
      run("ceil(1.2)"),
      run("exp(0)"),
      run("sqrt(0.25)"),
      run("log(1)"),
      run("clip(1.4, 0, 1)"),
      run("clip(-1, 0, 1)"),
      run("clip(0.3, 0, 1)"),
    ]).toEqual([1, 0.2, 0.5, 1, 2, 1, 0.5, 0, 1, 0, 0.3]);
  });

  it("binds sub-grader names as variables and reports which it reads", () => {
    const f = parseExpression("0.7 * exact + 0.3 * close", ["exact", "close", "unused"]);
    expect(f.evaluate({ exact: 1, close: 0.5, unused: 0 })).toBeCloseTo(0.85, 12);
    expect(f.variables.sort()).toEqual(["close", "exact"]);
  });

  it("lets a grader be named like a function when it is not called", () => {
    expect(run("min(max, 0.5)", { max: 0.2 })).toBe(0.2);
  });

  it("gives NaN or Infinity for undefined arithmetic, for the grader to reject", () => {
    expect([run("1 / 0"), run("sqrt(-1)"), run("log(0)")]).toEqual([
      Number.POSITIVE_INFINITY,
      Number.NaN,
      Number.NEGATIVE_INFINITY,
    ]);
  });

  it("reports syntax errors with their position", () => {
    expect(error("1 +")).toEqual({
      message: 'expected a number, a name or "(" at 3, found end of expression',
      offset: 3,
    });
    expect(error("(1 + 2")).toEqual({ message: 'expected ")" at 6, found end of expression', offset: 6 });
    expect(error("1 2")).toEqual({ message: 'unexpected "2" at 2', offset: 2 });
    expect(error("a $ b", ["a", "b"])).toEqual({ message: 'unexpected character "$" at 2', offset: 2 });
    expect(error("min()")).toEqual({ message: "min() takes at least 1 argument, got 0 at 0", offset: 0 });
    expect(error("clip(1, 2)")).toEqual({ message: "clip() takes 3 arguments, got 2 at 0", offset: 0 });
  });

  it("refuses unknown names and functions, listing what exists", () => {
    expect(error("a + c", ["a", "b"]).message).toBe('unknown name "c" at 4; graders: a, b');
    expect(error("exp", ["a"]).message).toBe(
      'unknown name "exp" at 0 (exp is a function: call it as exp(...)); graders: a',
    );
    expect(error("pow(2, 3)").message).toBe(
      'unknown function "pow" at 0; functions: min, max, abs, floor, ceil, exp, sqrt, log, clip',
    );
    expect(error("constructor + toString", []).message).toBe('unknown name "constructor" at 0; graders: (none)');
    expect(error("constructor(1)").message).toMatch(/^unknown function "constructor"/);
  });

  it("never runs JavaScript: property access, strings and calls of non-functions are syntax errors", () => {
    expect(error("a.constructor", ["a"]).message).toBe('unexpected character "." at 1');
    expect(error("'x'").message).toBe(`unexpected character "'" at 0`);
    expect(error("a(1)", ["a"]).message).toMatch(/^unknown function "a"/);
  });

  it("refuses deeply nested input cleanly instead of overflowing the stack", () => {
    expect(error("(".repeat(3000)).message).toBe("expression nests deeper than 100 levels at 100");
    expect(error(`${"-".repeat(3000)}1`).message).toBe("expression nests deeper than 100 levels at 100");
    expect(error(`${"2^".repeat(2000)}2`).message).toMatch(/^expression nests deeper than 100 levels/);
    expect(error(`${"abs(".repeat(500)}1${")".repeat(500)}`).message).toMatch(
      /^expression nests deeper than 100 levels/,
    );
    expect(run(`${"(".repeat(99)}1${")".repeat(99)}`)).toBe(1);
  });

  it("refuses an over-long expression and evaluates the longest flat one", () => {
    expect(error("1".repeat(MAX_EXPRESSION_LENGTH + 1))).toEqual({
      message: `expression is longer than ${MAX_EXPRESSION_LENGTH} characters`,
      offset: MAX_EXPRESSION_LENGTH,
    });
    const terms = Math.floor((MAX_EXPRESSION_LENGTH + 1) / 2);
    const flat = `${"a+".repeat(terms - 1)}a`;
    expect(flat.length).toBeLessThanOrEqual(MAX_EXPRESSION_LENGTH);
    expect(run(flat, { a: 1 })).toBe(terms);
  });

  it("refuses a number too large to represent", () => {
    expect(error("1e999").message).toBe("number out of range at 0");
  });
});
