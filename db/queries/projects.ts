import { asc, eq, gt } from "drizzle-orm";
import type { Db } from "../client";
import { projects } from "../schema";

export type ProjectRow = typeof projects.$inferSelect;

/** Inserts a project; returns null when the name is taken. */
export async function insertProject(db: Db, row: ProjectRow): Promise<ProjectRow | null> {
  const out = await db.insert(projects).values(row).onConflictDoNothing().returning();
  return out[0] ?? null;
}

export async function getProject(db: Db, id: string): Promise<ProjectRow | null> {
  const [row] = await db.select().from(projects).where(eq(projects.id, id)).limit(1);
  return row ?? null;
}

/** Projects in creation order (ids sort by time; prj_default sorts after them by its fixed id). */
export async function listProjects(db: Db, opts: { cursor?: string; limit: number }) {
  return db
    .select()
    .from(projects)
    .where(opts.cursor ? gt(projects.id, opts.cursor) : undefined)
    .orderBy(asc(projects.id))
    .limit(opts.limit + 1);
}
