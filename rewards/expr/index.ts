/**
 * A small arithmetic language for `multi` graders' `calculate_output`, parsed once and evaluated per
 * sample without `eval`: numbers, variables (the sub-graders' names), `+ - * /`, `^` (power, right
 * associative, binding tighter than unary minus: `-x^2` is `-(x^2)`, `2^-1` is 0.5), parentheses and
 * the functions min, max, abs, floor, ceil, exp, sqrt, log (natural) and clip(x, lo, hi).
 *
 * @example
 * const f = parseExpression("clip(0.7 * a + 0.3 * b, 0, 1)", ["a", "b"]);
 * f.evaluate({ a: 1, b: 0.5 }); // 0.85
 */

export type BinaryOp = "+" | "-" | "*" | "/" | "^";

export type Expr =
  | { kind: "number"; value: number }
  | { kind: "variable"; name: string }
  | { kind: "negate"; arg: Expr }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr }
  | { kind: "call"; fn: FunctionName; args: Expr[] };

const FUNCTIONS = {
  min: { arity: [1, Number.POSITIVE_INFINITY], fn: (...a: number[]) => Math.min(...a) },
  max: { arity: [1, Number.POSITIVE_INFINITY], fn: (...a: number[]) => Math.max(...a) },
  abs: { arity: [1, 1], fn: Math.abs },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
  exp: { arity: [1, 1], fn: Math.exp },
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  log: { arity: [1, 1], fn: Math.log },
  clip: { arity: [3, 3], fn: (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi) },
} satisfies Record<string, { arity: [number, number]; fn: (...a: number[]) => number }>;
export type FunctionName = keyof typeof FUNCTIONS;
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/** Longest expression accepted, in characters. */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Deepest nesting of parentheses, calls, unary minus and powers the parser follows. */
export const MAX_NESTING = 100;

export class ExpressionError extends Error {
  constructor(
    message: string,
    /** Character offset in the expression where the problem is. */
    readonly offset: number,
  ) {
    super(message);
  }
}

type Token =
  | { type: "number"; value: number; at: number }
  | { type: "name"; value: string; at: number }
  | { type: "op"; value: "+" | "-" | "*" | "/" | "^" | "(" | ")" | ","; at: number }
  | { type: "end"; at: number };

const NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const rest = src.slice(i, i + 400);
    const num = NUMBER.exec(rest);
    if (num) {
      tokens.push({ type: "number", value: Number(num[0]), at: i });
      i += num[0].length;
      continue;
    }
    const name = NAME.exec(rest);
    if (name) {
      tokens.push({ type: "name", value: name[0], at: i });
      i += name[0].length;
      continue;
    }
    if ("+-*/^(),".includes(c)) {
      tokens.push({ type: "op", value: c as "+", at: i });
      i++;
      continue;
    }
    throw new ExpressionError(`unexpected character ${JSON.stringify(c)} at ${i}`, i);
  }
  tokens.push({ type: "end", at: src.length });
  return tokens;
}

const describe = (t: Token) => (t.type === "end" ? "end of expression" : `${JSON.stringify(String(t.value))}`);

class Parser {
  private pos = 0;
  private depth = 0;
  readonly used = new Set<string>();

  constructor(
    private readonly tokens: Token[],
    private readonly variables: ReadonlySet<string>,
  ) {}

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    return this.tokens[this.pos++]!;
  }

  private op(): BinaryOp {
    return (this.next() as { value: BinaryOp }).value;
  }

  private isOp(value: string): boolean {
    const t = this.peek();
    return t.type === "op" && t.value === value;
  }

  private expect(value: string): void {
    const t = this.next();
    if (t.type !== "op" || t.value !== value) {
      throw new ExpressionError(`expected ${JSON.stringify(value)} at ${t.at}, found ${describe(t)}`, t.at);
    }
  }

  private enter(at: number): void {
    if (++this.depth > MAX_NESTING) {
      throw new ExpressionError(`expression nests deeper than ${MAX_NESTING} levels at ${at}`, at);
    }
  }

  parse(): Expr {
    const e = this.additive();
    const t = this.peek();
    if (t.type !== "end") throw new ExpressionError(`unexpected ${describe(t)} at ${t.at}`, t.at);
    return e;
  }

  private additive(): Expr {
    let left = this.multiplicative();
    while (this.isOp("+") || this.isOp("-")) {
      const op = this.op();
      left = { kind: "binary", op, left, right: this.multiplicative() };
    }
    return left;
  }

  private multiplicative(): Expr {
    let left = this.unary();
    while (this.isOp("*") || this.isOp("/")) {
      const op = this.op();
      left = { kind: "binary", op, left, right: this.unary() };
    }
    return left;
  }

  private unary(): Expr {
    const t = this.peek();
    if (t.type === "op" && t.value === "-") {
      this.next();
      this.enter(t.at);
      const arg = this.unary();
      this.depth--;
      return { kind: "negate", arg };
    }
    return this.power();
  }

  private power(): Expr {
    const base = this.primary();
    if (!this.isOp("^")) return base;
    const t = this.next();
    this.enter(t.at);
    // The exponent may carry its own sign (2^-1) and is itself a power: 2^3^2 = 2^(3^2).
    const exponent = this.unary();
    this.depth--;
    return { kind: "binary", op: "^", left: base, right: exponent };
  }

  private primary(): Expr {
    const t = this.next();
    if (t.type === "number") {
      if (!Number.isFinite(t.value)) throw new ExpressionError(`number out of range at ${t.at}`, t.at);
      return { kind: "number", value: t.value };
    }
    if (t.type === "name") {
      if (this.isOp("(")) return this.call(t.value, t.at);
      if (!this.variables.has(t.value)) {
        const known = [...this.variables].join(", ") || "(none)";
        const hint = Object.hasOwn(FUNCTIONS, t.value) ? ` (${t.value} is a function: call it as ${t.value}(...))` : "";
        throw new ExpressionError(`unknown name ${JSON.stringify(t.value)} at ${t.at}${hint}; graders: ${known}`, t.at);
      }
      this.used.add(t.value);
      return { kind: "variable", name: t.value };
    }
    if (t.type === "op" && t.value === "(") {
      this.enter(t.at);
      const inner = this.additive();
      this.expect(")");
      this.depth--;
      return inner;
    }
    throw new ExpressionError(`expected a number, a name or "(" at ${t.at}, found ${describe(t)}`, t.at);
  }

  private call(name: string, at: number): Expr {
    if (!Object.hasOwn(FUNCTIONS, name)) {
      throw new ExpressionError(
        `unknown function ${JSON.stringify(name)} at ${at}; functions: ${FUNCTION_NAMES.join(", ")}`,
        at,
      );
    }
    const fn = name as FunctionName;
    this.expect("(");
    this.enter(at);
    const args: Expr[] = [];
    if (!this.isOp(")")) {
      args.push(this.additive());
      while (this.isOp(",")) {
        this.next();
        args.push(this.additive());
      }
    }
    this.expect(")");
    this.depth--;
    const [lo, hi] = FUNCTIONS[fn].arity;
    if (args.length < lo || args.length > hi) {
      const want = lo === hi ? `${lo}` : `at least ${lo}`;
      throw new ExpressionError(
        `${fn}() takes ${want} argument${lo === 1 ? "" : "s"}, got ${args.length} at ${at}`,
        at,
      );
    }
    return { kind: "call", fn, args };
  }
}

function evaluate(e: Expr, vars: Readonly<Record<string, number>>): number {
  switch (e.kind) {
    case "number":
      return e.value;
    case "variable": {
      const v = Object.hasOwn(vars, e.name) ? vars[e.name] : undefined;
      if (typeof v !== "number") throw new ExpressionError(`no value for ${JSON.stringify(e.name)}`, 0);
      return v;
    }
    case "negate":
      return -evaluate(e.arg, vars);
    case "binary": {
      const a = evaluate(e.left, vars);
      const b = evaluate(e.right, vars);
      switch (e.op) {
        case "+":
          return a + b;
        case "-":
          return a - b;
        case "*":
          return a * b;
        case "/":
          return a / b;
        case "^":
          return a ** b;
      }
      break;
    }
    case "call": {
      const args = e.args.map((a) => evaluate(a, vars));
      return (FUNCTIONS[e.fn].fn as (...a: number[]) => number)(...args);
    }
  }
  throw new Error("unreachable");
}

export interface CompiledExpression {
  source: string;
  ast: Expr;
  /** The variables the expression reads. */
  variables: string[];
  /** The value for these variables; may be NaN or ±Infinity (division by zero, sqrt(-1), log(0)). */
  evaluate(vars: Readonly<Record<string, number>>): number;
}

/**
 * Parses `source` once. Throws ExpressionError (with the offset) for a syntax error, an unknown name or
 * function, a wrong number of arguments, or an expression too long or too deeply nested; it never
 * overflows the stack, whatever the input.
 */
export function parseExpression(source: string, variables: readonly string[]): CompiledExpression {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`, MAX_EXPRESSION_LENGTH);
  }
  const parser = new Parser(tokenize(source), new Set(variables));
  const ast = parser.parse();
  return { source, ast, variables: [...parser.used], evaluate: (vars) => evaluate(ast, vars) };
}
