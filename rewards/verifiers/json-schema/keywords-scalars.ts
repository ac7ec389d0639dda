import { FORMATS } from "./formats";
import type { Builder, Node } from "./nodes";
import { codePointLength, isMultipleOf } from "./values";

/** Keywords of the validation vocabulary on strings (with `format`) and numbers. */

export function stringKeywords(b: Builder, n: Node, s: Record<string, unknown>, validation: boolean) {
  if (validation) {
    const min = typeof s.minLength === "number" ? s.minLength : undefined;
    const max = typeof s.maxLength === "number" ? s.maxLength : undefined;
    if (min !== undefined || max !== undefined) {
      n.str.push((v, c) => {
        const str = v as string;
        // Code points are never more than UTF-16 units: the cheap bound decides most strings.
        if (min !== undefined && (str.length < min || codePointLength(str) < min))
          return c.fail(n, "minLength", `is ${codePointLength(str)} characters, shorter than ${min}`);
        if (max !== undefined && str.length > max && codePointLength(str) > max)
          return c.fail(n, "maxLength", `is ${codePointLength(str)} characters, longer than ${max}`);
        return true;
      });
    }
    if (typeof s.pattern === "string") {
      const re = new RegExp(s.pattern, "u");
      const src = s.pattern;
      n.str.push((v, c) => re.test(v as string) || c.fail(n, "pattern", `does not match /${src}/`));
    }
  }
  // A metaschema that lists the format-assertion vocabulary asks for assertion whatever the grader says.
  const assertFormat = b.opts.format === "assert" || b.opts.vocabularies?.has("format-assertion") === true;
  if (typeof s.format === "string" && assertFormat && b.on("format")) {
    const f = FORMATS[s.format];
    const name = s.format;
    if (f) n.str.push((v, c) => f(v as string) || c.fail(n, "format", `is not a valid ${name}`));
  }
}

export function numberKeywords(n: Node, s: Record<string, unknown>) {
  const { minimum, maximum, exclusiveMinimum: exMin, exclusiveMaximum: exMax, multipleOf } = s;
  if (typeof minimum === "number") {
    const ex = exMin === true;
    n.num.push(
      (v, c) =>
        (ex ? (v as number) > minimum : (v as number) >= minimum) ||
        c.fail(n, "minimum", `${v} is less than ${ex ? "or equal to " : ""}${minimum}`),
    );
  }
  if (typeof maximum === "number") {
    const ex = exMax === true;
    n.num.push(
      (v, c) =>
        (ex ? (v as number) < maximum : (v as number) <= maximum) ||
        c.fail(n, "maximum", `${v} is greater than ${ex ? "or equal to " : ""}${maximum}`),
    );
  }
  if (typeof exMin === "number")
    n.num.push((v, c) => (v as number) > exMin || c.fail(n, "exclusiveMinimum", `${v} is not greater than ${exMin}`));
  if (typeof exMax === "number")
    n.num.push((v, c) => (v as number) < exMax || c.fail(n, "exclusiveMaximum", `${v} is not less than ${exMax}`));
  if (typeof multipleOf === "number")
    n.num.push(
      (v, c) =>
        isMultipleOf(v as number, multipleOf) || c.fail(n, "multipleOf", `${v} is not a multiple of ${multipleOf}`),
    );
}
