/** A retraining policy: its spec (what feedback, which run template, which gate) and the template check. */
import * as z from "zod";
import type { CycleStatus, retrainingCycles, retrainingPolicies } from "../../db/schema";
import { type DispatchSpec, SPEC_OF_KIND } from "../../gpu-jobs/spec";
import { ApiError, zodIssues } from "./errors";

export const OPEN_CYCLE: CycleStatus[] = ["curating", "training", "evaluating"];
const DatasetRef = z.string().regex(/^ds_[0-9a-z]{1,60}$/, 'a dataset id ("ds_…")');

export const RetrainingPolicySpec = z
  .object({
    name: z.string().trim().min(1).max(200),
    feedback: z
      .object({
        sources: z
          .array(z.string().regex(/^fs_[0-9a-z]{1,60}$/))
          .min(1)
          .max(20),
      })
      .strict(),
    trigger: z
      .object({
        /** Fire once this many feedback events arrived from the sources since the last cycle began. */
        minNewFeedback: z.number().int().min(1).max(10_000_000).optional(),
        /** Fire once the last cycle (or the policy) is this old and some new feedback arrived. */
        maxAgeHours: z
          .number()
          .min(0.01)
          .max(24 * 365)
          .optional(),
        /** Fire on a drift alarm of the experiment (see fireOnDrift). */
        onDrift: z.boolean().default(false),
        /** No automatic cycle starts sooner than this after the previous one began. */
        cooldownHours: z
          .number()
          .min(0)
          .max(24 * 365)
          .default(0),
      })
      .strict()
      .default({ onDrift: false, cooldownHours: 0 }),
    /** A curation request without its feedback filter (the cycle fills it: the sources, new events only). */
    curation: z
      .object({
        name: z.string().trim().min(1).max(200).optional(),
        into: z.enum(["sft", "dpo", "kto", "rft", "auto"]).default("auto"),
        dedup: z.record(z.string(), z.unknown()).optional(),
        holdoutOf: DatasetRef.optional(),
        base: DatasetRef.optional(),
      })
      .strict()
      .default({ into: "auto" }),
    /** A run spec of kind sft, dpo, kto or rft; the cycle fills in `dataset` and `warmStart` (the champion). */
    run: z.record(z.string(), z.unknown()),
    gate: z
      .object({
        /** Scores both evals; default: the run template's grader. */
        grader: z.record(z.string(), z.unknown()).optional(),
        confidence: z.number().min(0.5).max(0.9999).default(0.95),
        margin: z.number().min(0).max(1).default(0),
        minItems: z.number().int().min(2).max(1_000_000).default(50),
        /** The frozen holdout (its holdout split); default: the champion's training dataset, else the curated one. */
        holdout: DatasetRef.optional(),
      })
      .strict()
      .default({ confidence: 0.95, margin: 0, minItems: 50 }),
  })
  .strict();
export type RetrainingPolicySpec = z.infer<typeof RetrainingPolicySpec>;

export type PolicyRow = typeof retrainingPolicies.$inferSelect;
export type CycleRow = typeof retrainingCycles.$inferSelect;

/** Validates the run template as the kind's spec would be once the cycle fills it in. */
export function validateTemplate(policy: RetrainingPolicySpec): DispatchSpec {
  const kind = policy.run.kind;
  if (kind !== "sft" && kind !== "dpo" && kind !== "kto" && kind !== "rft") {
    throw new ApiError("BAD_REQUEST", "the run template must be of kind sft, dpo, kto or rft", [
      { path: ["run", "kind"], message: "one of sft, dpo, kto, rft" },
    ]);
  }
  const parsed = SPEC_OF_KIND[kind].safeParse({ backend: "local", ...policy.run, dataset: "ds_template" });
  if (!parsed.success) {
    throw new ApiError(
      "BAD_REQUEST",
      "the run template is not a valid run spec",
      zodIssues(parsed.error.issues).map((i) => ({ ...i, path: ["run", ...i.path] })),
    );
  }
  const spec = parsed.data as DispatchSpec;
  if (!policy.gate.grader && !("grader" in spec && spec.grader)) {
    throw new ApiError("BAD_REQUEST", "the gate needs a grader: give gate.grader or a grader in the run template", [
      { path: ["gate", "grader"], message: "required when the run template has no grader" },
    ]);
  }
  return spec;
}
