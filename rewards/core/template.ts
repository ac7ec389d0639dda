import type * as z from "zod";
import { extractJson } from "./extract-json";
import type { Sample } from "./types";

const TAG = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** Follows a dotted path (`a.b.0.c`) into a value; undefined when any step is missing. */
export function lookup(root: unknown, path: string[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    if (!Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Resolves one reference such as `item.answer`, `sample.output_text` or `sample.output_json.name`. */
export function resolveRef(ref: string, sample: Sample): unknown {
  const parts = ref.split(".");
  const [head, second, ...rest] = parts;
  if (head === "item") return lookup(sample.item, parts.slice(1));
  if (head === "sample") {
    if (second === "output_text") return rest.length ? undefined : sample.completion;
    if (second === "output_json") {
      const parsed = extractJson(sample.completion);
      return parsed.ok ? lookup(parsed.value, rest) : undefined;
    }
  }
  return undefined;
}

export class TemplateError extends Error {}

/**
 * Renders an OpenAI-style template (`{{item.x}}`, `{{sample.output_text}}`, `{{sample.output_json.x}}`).
 * A template that is exactly one tag yields the referenced value itself (an object stays an object);
 * otherwise values are stringified into the text. An unknown reference is an error, not an empty string:
 * a typo in a grader must not quietly score everything 0.
 */
export function render(template: string, sample: Sample): unknown {
  const whole = /^\s*\{\{\s*([^{}]+?)\s*\}\}\s*$/.exec(template);
  if (whole) {
    const v = resolveRef(whole[1]!, sample);
    if (v === undefined) throw new TemplateError(`template reference {{${whole[1]}}} is missing from the sample`);
    return v;
  }
  return template.replace(TAG, (_m, ref: string) => {
    const v = resolveRef(ref, sample);
    if (v === undefined) throw new TemplateError(`template reference {{${ref}}} is missing from the sample`);
    return typeof v === "string" ? v : JSON.stringify(v);
  });
}

export function renderText(template: string, sample: Sample): string {
  const v = render(template, sample);
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The references a template uses, for validation. */
export function references(template: string): string[] {
  return [...template.matchAll(TAG)].map((m) => m[1]!);
}

export function isValidRef(ref: string): boolean {
  return /^(item(\.[^.\s]+)*|sample\.output_text|sample\.output_json(\.[^.\s]+)*)$/.test(ref);
}

/** Adds a config issue for every template reference that names neither `item.…` nor `sample.output_…`. */
export function checkTemplate(template: string, path: string, ctx: z.RefinementCtx): void {
  for (const ref of references(template)) {
    if (!isValidRef(ref))
      ctx.addIssue({ code: "custom", path: [path], message: `unknown template reference {{${ref}}}` });
  }
}

/** A rendered template, or a missing reference and whose fault it is. */
export type Rendered = { ok: true; value: unknown } | { ok: false; blame: "item" | "model"; message: string };

/**
 * Renders a template over a sample, catching a missing reference and blaming it: an `{{item.…}}` the
 * dataset row lacks is the evaluator's problem (the grader answers `valid: false`); otherwise the
 * completion lacks what `{{sample.output_json.…}}` asks for, which is the model's doing (a valid 0, so a
 * model cannot dodge a low reward by leaving the JSON out). The one rule every grader follows.
 */
export function tryRender(template: string, sample: Sample): Rendered {
  try {
    return { ok: true, value: render(template, sample) };
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const itemMissing = references(template).some(
      (r) => (r === "item" || r.startsWith("item.")) && resolveRef(r, sample) === undefined,
    );
    return { ok: false, blame: itemMissing ? "item" : "model", message: err.message };
  }
}
