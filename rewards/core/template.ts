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
