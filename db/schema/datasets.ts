import { index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** A stored JSONL dataset. Immutable once written; its splits are frozen at upload. */
export const datasets = sqliteTable(
  "datasets",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    name: text("name"),
    sha256: text("sha256").notNull(),
    rows: integer("rows").notNull(),
    bytes: integer("bytes").notNull(),
    trainRows: integer("train_rows").notNull(),
    holdoutRows: integer("holdout_rows").notNull(),
    holdoutFraction: real("holdout_fraction").notNull(),
    /** R2 keys of the original file and of each split (JSONL, one row a line). */
    objectKey: text("object_key").notNull(),
    trainKey: text("train_key").notNull(),
    holdoutKey: text("holdout_key").notNull(),
    /** Counts gathered while streaming: labelled rows, preference pairs, verifiable targets, fields seen. */
    stats: text("stats", { mode: "json" }).$type<DatasetStats>().notNull(),
    /** Lineage: the dataset this version was built on (a curation's `base`), and the curation that made it. */
    parentId: text("parent_id"),
    curationId: text("curation_id"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("datasets_project_idx").on(t.projectId, t.id)],
);

export interface DatasetStats {
  labelled: number;
  preferencePairs: number;
  verifiable: number;
  fields: Record<string, number>;
}
