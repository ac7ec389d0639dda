import type { BuildDeps, BuiltGrader, GraderType } from "../core/grader";
import type { Services } from "../core/services";
import { codeTestsGrader } from "./code-tests";
import { jsonSchemaGrader } from "./json-schema";
import { labelModelGrader, scoreModelGrader } from "./judge";
import { multiGrader, setSubGraderValidator } from "./multi";
import { pythonGrader } from "./python";
import { rewardGrader } from "./reward";
import { sqlExecMatchGrader } from "./sql-exec-match";
import { stringCheckGrader } from "./string-check";
import { textSimilarityGrader } from "./text-similarity";

/**
 * Every grader type the platform serves, by `type`. To add one: write rewards/graders/<type>.ts exporting a
 * `defineGraderType(...)`, and list it here.
 */
export const GRADER_TYPES: GraderType[] = [
  rewardGrader,
  jsonSchemaGrader,
  stringCheckGrader,
  textSimilarityGrader,
  multiGrader,
  sqlExecMatchGrader,
  codeTestsGrader,
  scoreModelGrader,
  labelModelGrader,
  pythonGrader,
];
// multi validates its sub-graders through the registry without importing it (no import cycle).
setSubGraderValidator((config, path) => validateGrader(config, path));

/** Whether a grader (or a sub-grader of a multi) runs model code in a sandbox Worker. */
export function usesSandbox(config: unknown): boolean {
  if (!config || typeof config !== "object") return false;
  const c = config as { type?: unknown; graders?: unknown };
  if (c.type === "code_tests" || c.type === "python") return true;
  return (
    c.type === "multi" && !!c.graders && typeof c.graders === "object" && Object.values(c.graders).some(usesSandbox)
  );
}

/**
 * Samples of one batch scored at once (scoreBatch's concurrency). Runs bound for a sandbox Worker are
 * gathered into calls of up to 16 (functions/lib/sandbox-client.ts); with the default 8 in flight a batch
 * would be a string of 8-run calls one after another, so it could never keep two sandbox isolates busy.
 * With 64, a batch is four 16-run calls in flight at once. Other graders keep the default: their work is in
 * this isolate (SQL, JSON) or bounded by its own client (a judge's maxConcurrency).
 */
export function batchConcurrency(config: unknown): number | undefined {
  return usesSandbox(config) ? 64 : undefined;
}

export function graderType(type: string): GraderType | undefined {
  return GRADER_TYPES.find((t) => t.type === type);
}

export interface GraderIssue {
  path: (string | number)[];
  message: string;
}

export type ValidationOutcome = { valid: true; errors: [] } | { valid: false; errors: GraderIssue[] };

/** Validates a grader config (recursively through `multi`) without building it. */
export function validateGrader(config: unknown, path: (string | number)[] = []): ValidationOutcome {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    return { valid: false, errors: [{ path, message: "a grader config must be an object" }] };
  }
  const type = (config as { type?: unknown }).type;
  const t = typeof type === "string" ? graderType(type) : undefined;
  if (!t) {
    const known = GRADER_TYPES.map((g) => g.type).join(", ");
    return {
      valid: false,
      errors: [{ path: [...path, "type"], message: `unknown grader type ${JSON.stringify(type)}; known: ${known}` }],
    };
  }
  const parsed = t.config.safeParse(config);
  if (!parsed.success) {
    return {
      valid: false,
      errors: parsed.error.issues.map((i) => ({
        path: [...path, ...i.path.map((p) => (typeof p === "number" ? p : String(p)))],
        message: i.message,
      })),
    };
  }
  return { valid: true, errors: [] };
}

/**
 * validateGrader, then the checks that need the runtime (a python grader's source compiled in the
 * sandbox), through `multi` too. POST /v1/graders/validate, run and preflight use this one.
 */
export async function validateGraderIn(
  config: unknown,
  services: Services,
  path: (string | number)[] = [],
): Promise<ValidationOutcome> {
  const outcome = validateGrader(config, path);
  if (!outcome.valid) return outcome;
  const errors = await runtimeChecks(config, services, path);
  return errors.length ? { valid: false, errors } : { valid: true, errors: [] };
}

async function runtimeChecks(config: unknown, services: Services, path: (string | number)[]): Promise<GraderIssue[]> {
  const t = graderType((config as { type: string }).type)!;
  if (!t.check && !t.children) return [];
  const parsed = t.config.parse(config);
  const issues: GraderIssue[] = [];
  for (const i of (await t.check?.(parsed, services)) ?? [])
    issues.push({ path: [...path, ...i.path], message: i.message });
  for (const [sub, child] of t.children?.(parsed) ?? [])
    issues.push(...(await runtimeChecks(child, services, [...path, ...sub])));
  return issues;
}

export class GraderConfigError extends Error {
  constructor(readonly errors: GraderIssue[]) {
    super(errors.map((e) => `${e.path.join(".") || "(root)"}: ${e.message}`).join("; "));
  }
}

/**
 * Builds a grader from its config. Throws GraderConfigError for an invalid config. `extra` supplies what
 * some types need from outside (for `type: "reward"`, the authored reward registry).
 */
export function buildGrader(config: unknown, extra: Partial<BuildDeps> = {}): BuiltGrader {
  const outcome = validateGrader(config);
  if (!outcome.valid) throw new GraderConfigError(outcome.errors);
  const t = graderType((config as { type: string }).type)!;
  const deps: BuildDeps = { build: (child) => buildGrader(child, extra), ...extra };
  return t.build(t.config.parse(config), deps);
}
