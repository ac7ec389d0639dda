import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export type ApiKeyRole = "read" | "write" | "score" | "runner" | "admin";

/** API keys: only the SHA-256 of a key is stored; the key itself is shown once, at creation. */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    name: text("name").notNull(),
    /** First characters of the key, so a user can tell keys apart in a list. */
    prefix: text("prefix").notNull(),
    hash: text("hash").notNull().unique(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
    /** What the key may do in its project (see ROLES in functions/middleware/permissions.ts). */
    role: text("role").$type<ApiKeyRole>().notNull().default("write"),
    /** Epoch ms after which the key is refused; null: never expires. */
    expiresAt: integer("expires_at"),
    /** Last time the key authenticated, recorded at most once a minute (see functions/middleware/auth.ts). */
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [index("api_keys_created_idx").on(t.createdAt), index("api_keys_project_idx").on(t.projectId, t.id)],
);

/**
 * Stored responses of POSTs sent with an `Idempotency-Key`, so that a retried create returns the
 * first answer instead of creating twice. `status` is null while the first request is still running.
 */
export const idempotencyKeys = sqliteTable("idempotency_keys", {
  /** The project, the principal and the client's key: keys of different callers never collide. */
  key: text("key").primaryKey(),
  projectId: text("project_id").notNull().default("prj_default"),
  method: text("method").notNull(),
  path: text("path").notNull(),
  requestHash: text("request_hash").notNull(),
  status: integer("status"),
  body: text("body"),
  createdAt: integer("created_at").notNull(),
});
