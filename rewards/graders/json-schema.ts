import * as z from "zod";
import { type ExtractMode, extractJson } from "../core/extract-json";
import { defineGraderType } from "../core/grader";
import { checkTemplate, references, tryRender } from "../core/template";
import { invalid, type RewardResult, type Sample, type SubMetric } from "../core/types";
import {
  type CompiledSchema,
  compileSchema,
  compileSchemaSync,
  DRAFTS,
  type Failure,
  pickDraft,
  SchemaError,
  type SchemaStore,
  verifyDocument,
} from "../verifiers/json-schema";

declare module "../core/services" {
  interface Services {
    /**
     * Schemas registered with PUT /v1/schemas, for `$ref`s that leave the grader's own schema. The
     * platform supplies one per request (bucketSchemaStore); without it such a `$ref` is an evaluator error.
     */
    jsonSchemas?: SchemaStore;
  }
}

const DEFAULT_INPUT = "{{sample.output_text}}";
/** Failing locations listed in `reason` and as metrics; the rest are counted. */
const MAX_LISTED = 10;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** A schema given as a string is a template (`{{item.schema}}`) unless it is itself JSON text. */
function literalSchema(schema: string): object | boolean | undefined {
  if (references(schema).length) return undefined;
  try {
    const v = JSON.parse(schema) as unknown;
    return isPlainObject(v) || typeof v === "boolean" ? v : undefined;
  } catch {
    return undefined;
  }
}

export const JsonSchemaGraderConfig = z
  .object({
    type: z.literal("json_schema"),
    name: z.string().min(1),
    input: z.string().default(DEFAULT_INPUT),
    schema: z.union([z.record(z.string(), z.unknown()), z.boolean(), z.string().min(1)]),
    partial_credit: z.boolean().default(true),
    extract: z.enum(["auto", "bare", "fenced", "balanced"]).default("auto"),
    draft: z.enum(DRAFTS).optional(),
    /**
     * `assert` (default): a string that breaks its `format` (a bad date, an email without "@") fails, as
     * structured-output users expect. `annotate`: `format` is only an annotation, as 2019-09/2020-12 say.
     */
    format: z.enum(["assert", "annotate"]).default("assert"),
  })
  .superRefine((cfg, ctx) => {
    checkTemplate(cfg.input, "input", ctx);
    let inline: unknown = cfg.schema;
    if (typeof cfg.schema === "string") {
      inline = literalSchema(cfg.schema);
      if (inline === undefined) {
        const refs = references(cfg.schema);
        if (refs.length === 0)
          ctx.addIssue({
            code: "custom",
            path: ["schema"],
            message: "schema must be an object, JSON text or a template such as {{item.schema}}",
          });
        checkTemplate(cfg.schema, "schema", ctx);
        return;
      }
    }
    // An inline schema is compiled now, so a broken one is reported before any sample is scored. `$ref`s
    // to registered schemas are resolved when scoring, where the registry is reachable.
    try {
      compileSchemaSync(inline, { draft: pickDraft(inline, cfg.draft), format: cfg.format });
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      for (const issue of err.issues) {
        if (issue.unregistered) continue;
        const path = issue.path
          .split("/")
          .slice(1)
          .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
        ctx.addIssue({ code: "custom", path: ["schema", ...path.filter((p) => p !== "")], message: issue.message });
      }
    }
  });
export type JsonSchemaGraderConfig = z.infer<typeof JsonSchemaGraderConfig>;

const pointer = (f: Failure) => `#${f.instancePath}`;

function describeFailures(failures: Failure[]): string {
  const listed = failures.slice(0, MAX_LISTED).map((f) => `${pointer(f)} ${f.keyword}: ${f.message}`);
  const more = failures.length > MAX_LISTED ? `; and ${failures.length - MAX_LISTED} more` : "";
  return listed.join("; ") + more;
}

/** Reads the document to validate: a value from the template, or JSON found in the rendered text. */
function readInstance(
  cfg: JsonSchemaGraderConfig,
  sample: Sample,
): { ok: true; value: unknown } | { ok: false; result: RewardResult } {
  const r = tryRender(cfg.input, sample);
  if (!r.ok) {
    if (r.blame === "model") return { ok: false, result: noJson(`no JSON value for ${cfg.input} in the completion`) };
    return { ok: false, result: invalid("INVALID_INPUT", r.message) };
  }
  const rendered = r.value;
  if (typeof rendered !== "string") return { ok: true, value: rendered };
  const found = extractJson(rendered, cfg.extract as ExtractMode);
  return found.ok ? { ok: true, value: found.value } : { ok: false, result: noJson(found.reason) };
}

const noJson = (reason: string): RewardResult => ({
  score: 0,
  valid: true,
  reason,
  metrics: { json_parsed: { score: 0, reason } },
});

/**
 * `{ type: "json_schema", name, input?, schema, partial_credit?, extract?, draft?, format? }`: scores how well
 * the JSON in a completion satisfies a JSON Schema (draft 7, 2019-09 or 2020-12).
 */
export const jsonSchemaGrader = defineGraderType({
  type: "json_schema",
  description:
    "Validates the completion's JSON against a JSON Schema (inline, from the item, or $ref to registered schemas); partial credit is the share of schema constraints met.",
  config: JsonSchemaGraderConfig,
  build(cfg) {
    const inline = typeof cfg.schema === "string" ? literalSchema(cfg.schema) : cfg.schema;
    // One compilation per grader for an inline schema, shared by all samples (and cached across graders).
    let inlineCompiled: Promise<CompiledSchema> | undefined;

    async function compiledFor(sample: Sample, store: SchemaStore | undefined): Promise<CompiledSchema | RewardResult> {
      if (inline !== undefined) {
        if (!inlineCompiled) {
          inlineCompiled = compileSchema(inline, { draft: pickDraft(inline, cfg.draft), format: cfg.format, store });
          // A store failure (R2 unreachable) must not stick to the grader; a broken schema may.
          inlineCompiled.catch((err) => {
            if (!(err instanceof SchemaError)) inlineCompiled = undefined;
          });
        }
        return inlineCompiled;
      }
      const r = tryRender(cfg.schema as string, sample);
      if (!r.ok) return invalid("INVALID_INPUT", r.message);
      let schema = r.value;
      if (typeof schema === "string") {
        try {
          schema = JSON.parse(schema);
        } catch {
          return invalid("INVALID_INPUT", `${cfg.schema} is a string that is not JSON`);
        }
      }
      if (!isPlainObject(schema) && typeof schema !== "boolean") {
        return invalid(
          "INVALID_INPUT",
          `${cfg.schema} must be a JSON Schema object, got ${schema === null ? "null" : typeof schema}`,
        );
      }
      return compileSchema(schema, { draft: pickDraft(schema, cfg.draft), format: cfg.format, store });
    }

    return {
      ref: "json_schema",
      async score(sample, ctx) {
        let compiled: CompiledSchema | RewardResult;
        try {
          compiled = await compiledFor(sample, ctx.services.jsonSchemas);
        } catch (err) {
          if (err instanceof SchemaError) return invalid("INVALID_INPUT", err.message);
          throw err;
        }
        if ("score" in compiled) return compiled;
        const doc = readInstance(cfg, sample);
        if (!doc.ok) return doc.result;
        const v = verifyDocument(compiled, doc.value, { partialCredit: cfg.partial_credit });
        if (v.valid) {
          return {
            score: 1,
            valid: true,
            reason: "the JSON satisfies the schema",
            metrics: { json_parsed: { score: 1 }, schema_valid: { score: 1 }, constraints: { score: 1 } },
          };
        }
        const metrics: Record<string, SubMetric> = {
          json_parsed: { score: 1 },
          schema_valid: { score: 0 },
          constraints: {
            score: v.partial,
            reason: `${v.failed} of ${Math.max(v.checked, v.failed)} checks failed`,
          },
        };
        for (const f of v.failures.slice(0, MAX_LISTED)) {
          const key = pointer(f);
          const prior = metrics[key]?.reason;
          const line = `${f.keyword}: ${f.message}`;
          metrics[key] = { score: 0, reason: prior ? `${prior}; ${line}` : line };
        }
        const share = cfg.partial_credit ? ` (partial credit ${round(v.score)})` : "";
        return {
          score: v.score,
          valid: true,
          reason: `the JSON does not satisfy the schema${share}: ${describeFailures(v.failures)}`,
          metrics,
        };
      },
    };
  },
});

const round = (x: number) => Math.round(x * 1000) / 1000;
