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

/**
 * Successive halving of a sweep's runs on the sweep's metric (gpu-jobs/asha.ts): rungs at
 * `minSteps × eta^k` steps, k < maxRungs; at each rung only the top 1/eta of the runs that reached it
 * go on, the rest are told `stop: true` with the reason.
 */
export const EarlyTermination = z
  .object({
    type: z.literal("asha"),
    minSteps: z.number().int().min(1).max(1_000_000),
    eta: z.number().int().min(2).max(8).default(3),
    maxRungs: z.number().int().min(1).max(8).default(3),
  })
  .strict();
export type EarlyTermination = z.infer<typeof EarlyTermination>;

export const SearchSpace = z
  .object({
    /**
     * grid and random: every point is known up front. bayes: TPE proposes each next point from the
     * finished runs' metric, `parallelism` runs at a time.
     */
    method: z.enum(["grid", "random", "bayes"]),
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
    /** bayes: runs in flight at once (each proposal waits for a free slot). */
    parallelism: z.number().int().min(1).max(16).default(2),
    /** bayes: random proposals before the model is used (default: a quarter of maxRuns, 2 to 10). */
    startup: z.number().int().min(1).max(50).optional(),
    earlyTermination: EarlyTermination.optional(),
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
export function rng(seed: number) {
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
 * `maxRuns` draws (randomPoint), reproducible from `seed`.
 */
export function points(space: SearchSpace): Point[] {
  if (space.method === "bayes") throw new Error("a bayes sweep's points are proposed one by one (gpu-jobs/tpe.ts)");
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
  return Array.from({ length: space.maxRuns }, () => randomPoint(space.parameters, next));
}

type Range = Exclude<ParamSpace, unknown[]>;

/** A range's value in the scale it is searched in (log for log ranges), and back (clamped, rounded). */
export const toInternal = (r: Range, x: number) => (r.scale === "log" ? Math.log(x) : x);
export const fromInternal = (r: Range, y: number) => {
  const x = r.scale === "log" ? Math.exp(y) : y;
  const clamped = Math.min(r.max, Math.max(r.min, x));
  return r.integer ? Math.round(clamped) : clamped;
};

/** A uniform draw from the whole space: lists uniformly, ranges linearly or log-uniformly. */
export function randomPoint(parameters: Record<string, ParamSpace>, next: () => number): Point {
  const p: Point = {};
  for (const k of Object.keys(parameters).sort()) {
    const v = parameters[k]!;
    if (Array.isArray(v)) p[k] = v[Math.floor(next() * v.length)]!;
    else p[k] = fromInternal(v, toInternal(v, v.min) + next() * (toInternal(v, v.max) - toInternal(v, v.min)));
  }
  return p;
}

/** How many random proposals a bayes sweep makes before TPE takes over. */
export function startupRuns(space: SearchSpace): number {
  return space.startup ?? Math.min(10, Math.max(2, Math.ceil(space.maxRuns / 4)));
}

/** The searched values of a run's spec: the inverse of applyPoint for the sweep's parameters. */
export function pointOf(spec: Record<string, unknown>, space: SearchSpace): Point {
  const p: Point = {};
  for (const path of Object.keys(space.parameters)) {
    const [section, key] = path.split(".") as [string, string];
    const v = (spec[section] as Record<string, unknown> | undefined)?.[key];
    if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") p[path] = v;
  }
  return p;
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
