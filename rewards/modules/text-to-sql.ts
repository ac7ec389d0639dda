import * as z from "zod";
import { defineReward } from "../core/define-reward";

const FENCE = /```[ \t]*(?:sql|sqlite)?[ \t]*\r?\n([\s\S]*?)```/i;
const STATEMENT_START = /^[ \t]*(?:select|with)\b/im;

/**
 * The SQL in a completion: the first fenced block (```sql or a bare fence), else from the first line that
 * starts with SELECT or WITH, else the whole completion. Null when nothing is left.
 */
export function extractSql(completion: string): string | null {
  const fenced = FENCE.exec(completion);
  let sql: string;
  if (fenced) sql = fenced[1]!;
  else {
    const start = STATEMENT_START.exec(completion);
    sql = start ? completion.slice(start.index) : completion;
  }
  sql = sql.trim();
  return sql ? sql : null;
}

export const textToSql = defineReward({
  name: "text-to-sql",
  description:
    "Execution match for text-to-SQL (Spider style): runs the completion's SQL and item.query on fresh copies " +
    "of the fixture item.db_id and scores 1 when their result sets match. A prediction that fails to run is 0.",
  input: z.object({
    db_id: z.string().min(1),
    query: z.string().min(1),
    /** Spider compares result rows in order only when the gold query orders them; override per row. */
    order_matters: z.boolean().optional(),
  }),
  async score({ completion, item }, ctx) {
    const predicted = extractSql(completion);
    if (!predicted) return { score: 0, valid: true, reason: "no SQL in the completion" };
    const sql = ctx.services.sql;
    if (!sql) {
      return {
        score: 0,
        valid: false,
        error: { code: "EVALUATOR_ERROR", message: "no SQL engine in this runtime (ctx.services.sql is missing)" },
      };
    }
    return sql.execMatch({
      database: item.db_id,
      predicted,
      reference: item.query,
      deadline: ctx.deadline,
      ...(item.order_matters !== undefined ? { orderMatters: item.order_matters } : {}),
    });
  },
});
