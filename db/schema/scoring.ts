import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Pre-flight certificates: the verdict on a grader config before GPU time is spent on it. Keyed by the
 * hash of the config's canonical JSON, so the dispatcher can find the certificate for exactly this grader.
 */
export const certificates = sqliteTable(
  "certificates",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    graderHash: text("grader_hash").notNull(),
    /** `type` or `name@version` of the grader when certified: a changed reward needs a new certificate. */
    graderRef: text("grader_ref").notNull(),
    verdict: text("verdict").$type<"pass" | "fail">().notNull(),
    report: text("report", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("certificates_grader_idx").on(t.projectId, t.graderHash, t.createdAt)],
);
