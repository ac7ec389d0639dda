import { z } from "@hono/zod-openapi";
import { DEFAULT_NEAR } from "./minhash";

/** Events per Queue message by default; a message reads one chunk, so this bounds its CPU and memory. */
export const DEFAULT_CHUNK = 2000;
export const MAX_CHUNK = 5000;

const Time = z
  .union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()])
  .openapi({ description: "ISO-8601 or epoch milliseconds; compared with the time the event was received" });

export const CurationFeedback = z
  .object({
    source: z.string().min(1).max(64).optional().openapi({ description: "Only events of this feedback source (fs_…)" }),
    sources: z
      .array(z.string().min(1).max(64))
      .min(1)
      .max(100)
      .optional()
      .openapi({ description: "Only events of these sources (with `source`, of any of them)" }),
    model: z.string().min(1).max(200).optional().openapi({ description: "Only events about this model" }),
    since: Time.optional(),
    until: Time.optional().openapi({ description: "Defaults to the moment the curation is created" }),
  })
  .strict()
  .openapi("CurationFeedback");

export const NearDedup = z
  .object({
    threshold: z.number().gt(0).lte(1).default(DEFAULT_NEAR.threshold),
    ngram: z.number().int().min(1).max(16).default(DEFAULT_NEAR.ngram),
    permutations: z.number().int().min(16).max(512).default(DEFAULT_NEAR.permutations),
  })
  .strict()
  .openapi("NearDedup");

export const CurationDedup = z
  .object({
    exact: z.boolean().default(true),
    near: z.union([NearDedup, z.literal(false)]).default({ ...DEFAULT_NEAR }),
  })
  .strict()
  .openapi("CurationDedup");

export const CurationSpec = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    feedback: CurationFeedback.default({}),
    into: z.enum(["sft", "dpo", "kto", "rft", "auto"]),
    dedup: CurationDedup.default({ exact: true, near: { ...DEFAULT_NEAR } }),
    holdoutOf: z.string().min(1).max(64).optional().openapi({
      description:
        "Drop rows whose prompt duplicates (exactly or nearly) a prompt of this dataset's holdout; defaults to `base`",
    }),
    base: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "The new dataset holds this dataset's rows (each in its split) plus the new ones" }),
    chunkSize: z
      .number()
      .int()
      .min(1)
      .max(MAX_CHUNK)
      .default(DEFAULT_CHUNK)
      .openapi({ description: "Events per job step" }),
  })
  .strict()
  .openapi("CreateCuration");
export type CurationSpec = z.infer<typeof CurationSpec>;
/** What a caller passes: defaults not yet applied. */
export type CurationRequest = z.input<typeof CurationSpec>;
