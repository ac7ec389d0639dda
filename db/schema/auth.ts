import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** API keys: only the SHA-256 of a key is stored; the key itself is shown once, at creation. */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** First characters of the key, so a user can tell keys apart in a list. */
    prefix: text("prefix").notNull(),
    hash: text("hash").notNull().unique(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("api_keys_created_idx").on(t.createdAt)],
);

/**
 * Stored responses of POSTs sent with an `Idempotency-Key`, so that a retried create returns the
 * first answer instead of creating twice. `status` is null while the first request is still running.
 */
export const idempotencyKeys = sqliteTable("idempotency_keys", {
  /** The principal and the client's key: keys of different callers never collide. */
  key: text("key").primaryKey(),
  method: text("method").notNull(),
  path: text("path").notNull(),
  requestHash: text("request_hash").notNull(),
  status: integer("status"),
  body: text("body"),
  createdAt: integer("created_at").notNull(),
});
