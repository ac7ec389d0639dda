import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { getProject, insertProject, listProjects, type ProjectRow } from "../../db/queries/projects";
import type { AppEnv } from "../env";
import { conflict } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { requireAuth } from "../middleware/auth";

export const CreateProject = z
  .object({
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[\w.-]+$/, "a project name is letters, digits, _ . and -"),
  })
  .strict()
  .openapi("CreateProject");
export type CreateProject = z.infer<typeof CreateProject>;

export const Project = z
  .object({
    id: z.string().openapi({ example: "prj_01m8hexfpm3jrcx73rs9jn9jc7" }),
    name: z.string(),
    createdAt: z.string(),
  })
  .openapi("Project");

const view = (r: ProjectRow) => ({ id: r.id, name: r.name, createdAt: new Date(r.createdAt).toISOString() });
const guard = requireAuth();

const create = createRoute({
  method: "post",
  path: "/v1/projects",
  tags: ["projects"],
  summary: "Create a project (admin secret)",
  security: bearer,
  middleware: [guard] as const,
  request: { body: jsonBody(CreateProject) },
  responses: { 201: json(Project, "The project"), ...errors(400, 401, 403, 409) },
});

const list = createRoute({
  method: "get",
  path: "/v1/projects",
  tags: ["projects"],
  summary: "List projects: all of them for the admin secret, a key's own project for a key",
  security: bearer,
  middleware: [guard] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(Project), "Projects, oldest first"), ...errors(400, 401, 403) },
});

export function projectRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const { name } = c.req.valid("json");
    const row = await insertProject(c.var.db, { id: newId("prj"), name, createdAt: Date.now() });
    if (!row) throw conflict(`a project named ${name} already exists`);
    return c.json(view(row), 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    if (c.var.principal.kind !== "admin") {
      const own = await getProject(c.var.db, projectOf(c));
      return c.json({ data: own && !cursor ? [view(own)] : [], nextCursor: null }, 200);
    }
    const p = page(await listProjects(c.var.db, { cursor, limit }), limit);
    return c.json({ data: p.data.map(view), nextCursor: p.nextCursor }, 200);
  });
}
