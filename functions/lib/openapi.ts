import { z } from "@hono/zod-openapi";
import { ERROR_STATUS, type ErrorCode } from "./errors";

export const ErrorEnvelope = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      requestId: z.string(),
      issues: z
        .array(
          z.object({
            path: z.array(z.union([z.string(), z.number()])),
            message: z.string(),
            code: z.string().optional(),
          }),
        )
        .optional(),
    }),
  })
  .openapi("Error");

const DESCRIPTIONS: Record<number, string> = {
  400: "Invalid input: the body, query or path failed validation",
  401: "Missing, unknown or revoked credentials",
  403: "The credentials are valid but may not do this",
  404: "Not found",
  405: "The path exists but not with this method (the Allow header lists those it has)",
  409: "Conflicts with what is stored",
  413: "The body is larger than this route accepts",
  415: "Unsupported content type",
  429: "Too many requests",
  502: "An upstream service failed",
};

/** The error responses a route can give, for its OpenAPI entry. */
export function errors(...statuses: (keyof typeof DESCRIPTIONS)[]) {
  const out: Record<
    number,
    { description: string; content: { "application/json": { schema: typeof ErrorEnvelope } } }
  > = {};
  for (const s of statuses) {
    out[s] = { description: DESCRIPTIONS[s] ?? "Error", content: { "application/json": { schema: ErrorEnvelope } } };
  }
  return out;
}

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

export const ListOf = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export const Cursor = z
  .string()
  .max(200)
  .optional()
  .openapi({ description: "Opaque cursor from a previous page's nextCursor" });
export const Limit = z.coerce.number().int().min(1).max(500).default(50);

export const bearer = [{ bearer: [] as string[] }];
