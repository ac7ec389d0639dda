import * as z from "zod";
import { defineGraderType } from "../core/grader";
import { checkTemplate, references, tryRender } from "../core/template";
import { invalid, type RewardResult, type Sample } from "../core/types";
import { extractSql } from "../verifiers/sql/statement";

const DEFAULT_INPUT = "{{sample.output_text}}";
/** Fixture names as PUT /v1/fixtures/{name} accepts them. */
export const FIXTURE_NAME = /^[a-z0-9_-]{1,64}$/;

export const SqlExecMatchGraderConfig = z
  .object({
    type: z.literal("sql_exec_match"),
    name: z.string().min(1),
    input: z.string().default(DEFAULT_INPUT),
    /** A fixture name, or a template such as {{item.db_id}}. */
    database: z.string().min(1),
    /** The reference SQL, or a template such as {{item.query}}. */
    reference: z.string().min(1),
    set_semantics: z.boolean().optional(),
    order_matters: z.boolean().optional(),
    float_tolerance: z.number().min(0).max(0.5).optional(),
  })
  .superRefine((cfg, ctx) => {
    checkTemplate(cfg.input, "input", ctx);
    checkTemplate(cfg.database, "database", ctx);
    checkTemplate(cfg.reference, "reference", ctx);
    if (references(cfg.database).length === 0 && !FIXTURE_NAME.test(cfg.database)) {
      ctx.addIssue({
        code: "custom",
        path: ["database"],
        message: "database must be a fixture name ([a-z0-9_-]{1,64}) or a template such as {{item.db_id}}",
      });
    }
  });
export type SqlExecMatchGraderConfig = z.infer<typeof SqlExecMatchGraderConfig>;

/** A field rendered from the item (database, reference): a string, or the evaluator's input is broken. */
function renderItemField(template: string, field: string, sample: Sample): string | RewardResult {
  const r = tryRender(template, sample);
  if (!r.ok) return invalid("INVALID_INPUT", `${field}: ${r.message}`);
  const v = r.value;
  if (typeof v !== "string" || !v.trim()) {
    return invalid("INVALID_INPUT", `${field} (${template}) must be a non-empty string, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * `{ type: "sql_exec_match", name, input?, database, reference, set_semantics?, order_matters?,
 * float_tolerance? }`: execution match for text-to-SQL with Spider's test-suite semantics (docs/sql.md).
 */
export const sqlExecMatchGrader = defineGraderType({
  type: "sql_exec_match",
  description:
    "Runs the completion's SQL and the reference SQL on fresh read-only copies of a SQL fixture and scores 1 when their results match (Spider test-suite semantics: multisets of rows, order only under a top-level ORDER BY, columns up to permutation, floats within a tolerance).",
  config: SqlExecMatchGraderConfig,
  build(cfg) {
    return {
      ref: "sql_exec_match",
      async score(sample, ctx) {
        const database = renderItemField(cfg.database, "database", sample);
        if (typeof database !== "string") return database;
        if (!FIXTURE_NAME.test(database)) {
          return invalid("FIXTURE_NOT_FOUND", `${JSON.stringify(database)} is not a fixture name ([a-z0-9_-]{1,64})`);
        }
        const reference = renderItemField(cfg.reference, "reference", sample);
        if (typeof reference !== "string") return reference;
        const rendered = tryRender(cfg.input, sample);
        if (!rendered.ok) {
          if (rendered.blame === "model")
            return { score: 0, valid: true, reason: `no SQL in the completion (${rendered.message})` };
          return invalid("INVALID_INPUT", `input: ${rendered.message}`);
        }
        const text = rendered.value;
        const predicted = extractSql(typeof text === "string" ? text : JSON.stringify(text));
        if (!predicted) return { score: 0, valid: true, reason: "no SQL in the completion" };
        const sql = ctx.services.sql;
        if (!sql) return invalid("EVALUATOR_ERROR", "no SQL engine in this runtime (ctx.services.sql is missing)");
        return sql.execMatch({
          database,
          predicted,
          reference,
          deadline: ctx.deadline,
          ...(cfg.set_semantics !== undefined ? { setSemantics: cfg.set_semantics } : {}),
          ...(cfg.order_matters !== undefined ? { orderMatters: cfg.order_matters } : {}),
          ...(cfg.float_tolerance !== undefined ? { floatTolerance: cfg.float_tolerance } : {}),
        });
      },
    };
  },
});
