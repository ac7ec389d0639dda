import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Projects: the unit of isolation. Every resource belongs to exactly one, and a key sees only its own.
 * `prj_default` ("default") is seeded by a migration and holds everything created before projects existed.
 */
export const projects = sqliteTable("projects", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  createdAt: integer("created_at").notNull(),
});
