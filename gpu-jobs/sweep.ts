import * as z from "zod";

/** A parameter's values: a list (grid or random choice) or a range (random search only). */
export const ParamSpace = z.union([
  z
    .array(z.union([z.number(), z.string(), z.boolean()]))
    .min(1)
    .max(100),
  z
    .object({
      min: z.number(),
      max: z.number(),
      scale: z.enum(["linear", "log"]).default("linear"),
      integer: z.boolean().default(false),
    })
    .strict()
    .refine((r) => r.max >= r.min, "max must be at least min")
    .refine((r) => r.scale === "linear" || r.min > 0, "a log range needs min > 0"),
]);
export type ParamSpace = z.infer<typeof ParamSpace>;

/** Only training settings are searched: the grader, dataset and backend stay those of the base spec. */
export const SEARCHABLE = /^(hyperparams|limits|resources)\.[A-Za-z]\w*$/;

export const SearchSpace = z
  .object({
    method: z.enum(["grid", "random"]),
    parameters: z
      .record(z.string().regex(SEARCHABLE, "searchable: hyperparams.*, limits.*, resources.*"), ParamSpace)
      .refine((p) => Object.keys(p).length > 0, "give at least one parameter"),
    maxRuns: z.number().int().min(1).max(100).default(16),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.method !== "grid") return;
    for (const [k, v] of Object.entries(s.parameters)) {
      if (!Array.isArray(v))
        ctx.addIssue({ code: "custom", path: ["parameters", k], message: "a grid needs a list of values" });
    }
  });
export type SearchSpace = z.infer<typeof SearchSpace>;

export type Point = Record<string, number | string | boolean>;

/** mulberry32: a small seeded PRNG, so a random search is reproducible from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The sweep's points. Grid: the cartesian product in key order, the first `maxRuns` of it. Random:
 * `maxRuns` draws (lists uniformly, ranges linearly or log-uniformly), reproducible from `seed`.
 */
export function points(space: SearchSpace): Point[] {
  const keys = Object.keys(space.parameters).sort();
  if (space.method === "grid") {
    let acc: Point[] = [{}];
    for (const k of keys) {
      const values = space.parameters[k] as (number | string | boolean)[];
      acc = acc.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
      if (acc.length > space.maxRuns * 1000) break;
    }
    return acc.slice(0, space.maxRuns);
  }
  const next = rng(space.seed);
  return Array.from({ length: space.maxRuns }, () => {
    const p: Point = {};
    for (const k of keys) {
      const v = space.parameters[k]!;
      if (Array.isArray(v)) p[k] = v[Math.floor(next() * v.length)]!;
      else {
        const u = next();
        let x =
          v.scale === "log"
            ? Math.exp(Math.log(v.min) + u * (Math.log(v.max) - Math.log(v.min)))
            : v.min + u * (v.max - v.min);
        if (v.integer) x = Math.round(x);
        p[k] = x;
      }
    }
    return p;
  });
}

/** A copy of `base` with each dotted path of `point` set. */
export function applyPoint(base: Record<string, unknown>, point: Point): Record<string, unknown> {
  const out = structuredClone(base);
  for (const [path, value] of Object.entries(point)) {
    const [section, key] = path.split(".") as [string, string];
    const sub = (out[section] ?? {}) as Record<string, unknown>;
    out[section] = { ...sub, [key]: value };
  }
  return out;
}
