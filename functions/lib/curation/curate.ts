/**
 * The in-memory half of a curation: given every scanned chunk's records, contamination, exact dedup, near
 * dedup (MinHash/LSH + exact Jaccard, union-find, earliest event kept), the format choice and the rows. No
 * storage and no database, so the bench runs it at 100,000 events in one process.
 */
import {
  buildRows,
  type CurationEvent,
  decideFormat,
  dedupText,
  type Format,
  type FormatDecision,
  type KeptEvent,
} from "./formats";
import {
  candidateProbability,
  clusterNear,
  decodeKeys,
  groups,
  MinHasher,
  type NearConfig,
  nearConfig,
  normalizeText,
  shingleSet,
} from "./minhash";
import type { CurationSpec } from "./spec";

/** One scanned event, as stored in a chunk file. */
export interface ChunkRecord extends CurationEvent {
  /** Exact-dedup key of the normalised dedup text. */
  x: string;
  /** LSH band keys (base64 uint32s); absent when near dedup is off. */
  k?: string;
  /** Why the prompt is contaminated, when it is. */
  c?: "exact" | "near";
}

export interface ChunkFile {
  chunk: number;
  events: number;
  noSignal: number;
  redacted: Record<string, number>;
  records: ChunkRecord[];
}

export interface CurationReport {
  input: number;
  output: number;
  dropped: { duplicate: number; nearDuplicate: number; contaminated: number; invalid: number; noSignal: number };
  invalidReasons: Record<string, number>;
  contamination: { exact: number; near: number; holdoutOf: string | null; holdoutPrompts: number };
  redacted: Record<string, number>;
  format: Format;
  reason: string;
  recommendation?: FormatDecision["recommendation"];
  baseRows: number;
  dedup: {
    exact: boolean;
    near:
      | false
      | {
          threshold: number;
          ngram: number;
          permutations: number;
          bands: number;
          rows: number;
          candidateProbabilityAtThreshold: number;
          candidatePairs: number;
        };
  };
  lineage: { feedbackCount: number; sources: Record<string, number> };
}

export function nearOf(spec: CurationSpec): NearConfig | null {
  return spec.dedup.near === false ? null : nearConfig(spec.dedup.near);
}

/** The contamination guard compares prompts with the dedup settings, or the defaults when near dedup is off. */
export function guardConfig(spec: CurationSpec): NearConfig {
  return nearOf(spec) ?? nearConfig();
}

/** One MinHasher per (permutations, seed): building its permutation tables is the costly part. */
export const hashers = new Map<string, MinHasher>();
export function hasherFor(cfg: NearConfig): MinHasher {
  const key = `${cfg.permutations}:${cfg.seed}`;
  let h = hashers.get(key);
  if (!h) {
    h = new MinHasher(cfg.permutations, cfg.seed);
    hashers.set(key, h);
  }
  return h;
}

export interface CurateResult {
  rows: { row: Record<string, unknown>; feedback: string[]; sources: string[] }[];
  report: CurationReport;
}

/**
 * The in-memory half of the job, given every chunk's records: contamination, exact dedup, near dedup,
 * format choice and rows. Exported for the bench, which runs it at 100,000 events in one process.
 */
export function curate(files: ChunkFile[], spec: CurationSpec): CurateResult {
  const near = nearOf(spec);
  const report: CurationReport = {
    input: 0,
    output: 0,
    dropped: { duplicate: 0, nearDuplicate: 0, contaminated: 0, invalid: 0, noSignal: 0 },
    invalidReasons: {},
    contamination: { exact: 0, near: 0, holdoutOf: spec.holdoutOf ?? spec.base ?? null, holdoutPrompts: 0 },
    redacted: {},
    format: "sft",
    reason: "",
    baseRows: 0,
    dedup: { exact: spec.dedup.exact, near: false },
    lineage: { feedbackCount: 0, sources: {} },
  };
  let records: ChunkRecord[] = [];
  for (const f of files) {
    report.input += f.events;
    report.dropped.noSignal += f.noSignal;
    for (const [k, n] of Object.entries(f.redacted)) report.redacted[k] = (report.redacted[k] ?? 0) + n;
    for (const r of f.records) {
      if (r.c) {
        report.dropped.contaminated++;
        report.contamination[r.c]++;
      } else records.push(r);
    }
  }
  // Precedence: the earliest event of a cluster is the one kept.
  records.sort((a, b) => a.occurredAt - b.occurredAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  let kept: { rec: ChunkRecord; feedback: string[]; sources: string[] }[] = [];
  if (spec.dedup.exact) {
    const first = new Map<string, number>();
    for (const rec of records) {
      const at = first.get(rec.x);
      if (at === undefined) {
        first.set(rec.x, kept.length);
        kept.push({ rec, feedback: [rec.id], sources: [rec.sourceId] });
      } else {
        kept[at]!.feedback.push(rec.id);
        kept[at]!.sources.push(rec.sourceId);
        report.dropped.duplicate++;
      }
    }
  } else kept = records.map((rec) => ({ rec, feedback: [rec.id], sources: [rec.sourceId] }));
  records = [];

  if (near) {
    const keys = kept.map((k) => (k.rec.k ? decodeKeys(k.rec.k) : new Uint32Array(0)));
    const res = clusterNear(keys, (i) => shingleSet(normalizeText(dedupText(kept[i]!.rec)), near.ngram), near);
    const merged: typeof kept = [];
    for (const g of groups(res.clusters, kept.length)) {
      const head = kept[g[0]!]!;
      for (const i of g.slice(1)) {
        head.feedback.push(...kept[i]!.feedback);
        head.sources.push(...kept[i]!.sources);
        report.dropped.nearDuplicate += kept[i]!.feedback.length;
      }
      merged.push(head);
    }
    kept = merged;
    report.dedup.near = {
      threshold: near.threshold,
      ngram: near.ngram,
      permutations: near.permutations,
      bands: near.bands,
      rows: near.rows,
      candidateProbabilityAtThreshold: Number(candidateProbability(near.threshold, near.bands, near.rows).toFixed(4)),
      candidatePairs: res.candidates,
    };
  }

  const keptEvents: KeptEvent[] = kept.map((k) => ({ event: k.rec, feedback: k.feedback }));
  let format: Format;
  if (spec.into === "auto") {
    const d = decideFormat(keptEvents);
    format = d.format;
    report.reason = d.reason;
    report.recommendation = d.recommendation;
  } else {
    format = spec.into;
    report.reason = `requested: into "${spec.into}"`;
  }
  report.format = format;
  const built = buildRows(keptEvents, format);
  const sourcesById = new Map<string, string>();
  for (const k of kept) {
    for (let i = 0; i < k.feedback.length; i++) sourcesById.set(k.feedback[i]!, k.sources[i]!);
  }
  for (const [reason, n] of Object.entries(built.invalid)) {
    report.invalidReasons[reason] = n;
    report.dropped.invalid += n;
  }
  // A row's feedback lists each merged event once; a DPO pair lists both sides' events.
  const rows = built.rows.map((r) => ({
    row: r.row,
    feedback: r.feedback,
    sources: r.feedback.map((f) => sourcesById.get(f)!),
  }));
  report.output = rows.length;
  return { rows, report };
}
