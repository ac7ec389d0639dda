import { createHash } from "node:crypto";
import type { DatasetStats } from "../../db/schema";
import { R2PartWriter } from "./datasets-r2";
import { StatsCollector } from "./datasets-stats";
import { ApiError, type ErrorIssue } from "./errors";
import { isBlank, LineSplitter, rowBucket } from "./jsonl";

/** At most this many bad lines are listed in `error.issues`; all of them are counted. */
export const MAX_REPORTED_ISSUES = 100;

const NEWLINE = new Uint8Array([0x0a]);
const JSONL = { contentType: "application/x-ndjson" };

export interface IngestKeys {
  original: string;
  train: string;
  holdout: string;
}

export interface IngestResult {
  sha256: string;
  rows: number;
  bytes: number;
  trainRows: number;
  holdoutRows: number;
  stats: DatasetStats;
}

function describeParseError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 200 ? `${msg.slice(0, 200)}…` : msg;
}

/**
 * Reads a JSONL upload once, as a stream: hashes it, validates each line, splits rows between train and
 * holdout by `rowBucket`, gathers stats, and writes the original and both splits to R2 as it goes. The
 * upload is accepted whole or rejected whole: on the first bad line every R2 write is aborted, and the
 * rest of the body is still read to list (up to MAX_REPORTED_ISSUES) and count the bad lines.
 */
export async function ingestJsonl(
  body: ReadableStream<Uint8Array> | null,
  opts: { bucket: R2Bucket; keys: IngestKeys; holdoutFraction: number; maxBytes: number },
): Promise<IngestResult> {
  const writers = {
    original: new R2PartWriter(opts.bucket, opts.keys.original, { httpMetadata: JSONL }),
    train: new R2PartWriter(opts.bucket, opts.keys.train, { httpMetadata: JSONL }),
    holdout: new R2PartWriter(opts.bucket, opts.keys.holdout, { httpMetadata: JSONL }),
  };
  const abortAll = () => Promise.all(Object.values(writers).map((w) => w.abort()));

  const hash = createHash("sha256");
  const splitter = new LineSplitter({ skipBom: true });
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const stats = new StatsCollector();
  const issues: ErrorIssue[] = [];
  let badLines = 0;
  let bytes = 0;
  let rows = 0;
  let holdoutRows = 0;
  let writing = true;

  const bad = async (line: number, code: string, message: string) => {
    badLines++;
    if (issues.length < MAX_REPORTED_ISSUES) issues.push({ path: ["line", line], message, code });
    if (writing) {
      writing = false;
      await abortAll();
    }
  };

  const handle = async (lines: (Uint8Array | null)[]) => {
    const first = splitter.lineNo - lines.length + 1;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const lineNo = first + i;
      if (line === null) {
        await bad(lineNo, "line_too_long", `line ${lineNo} is longer than the limit of 16 MiB`);
        continue;
      }
      if (isBlank(line)) continue;
      let text: string;
      try {
        text = decoder.decode(line);
      } catch {
        await bad(lineNo, "invalid_utf8", `line ${lineNo} is not valid UTF-8`);
        continue;
      }
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch (err) {
        await bad(lineNo, "invalid_json", `line ${lineNo} is not valid JSON: ${describeParseError(err)}`);
        continue;
      }
      if (row === null || typeof row !== "object" || Array.isArray(row)) {
        const kind = row === null ? "null" : Array.isArray(row) ? "an array" : `a ${typeof row}`;
        await bad(lineNo, "not_an_object", `line ${lineNo} is ${kind}, not a JSON object`);
        continue;
      }
      let bucket: number;
      try {
        bucket = rowBucket(row);
      } catch {
        // canonicalJson recurses: a pathologically deep row overflows the stack.
        await bad(lineNo, "too_deep", `line ${lineNo} is nested too deeply`);
        continue;
      }
      rows++;
      stats.add(row as Record<string, unknown>);
      const holdout = bucket < opts.holdoutFraction;
      if (holdout) holdoutRows++;
      if (!writing) continue;
      const w = holdout ? writers.holdout : writers.train;
      const p = w.write(line);
      if (p) await p;
      const q = w.write(NEWLINE);
      if (q) await q;
    }
  };

  try {
    if (body) {
      const reader = body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw new ApiError("BAD_REQUEST", `the upload was interrupted: ${describeParseError(err)}`);
        }
        const { done, value } = chunk;
        if (done) break;
        bytes += value.length;
        if (bytes > opts.maxBytes) {
          await reader.cancel();
          throw new ApiError("PAYLOAD_TOO_LARGE", `the file is larger than the limit of ${opts.maxBytes} bytes`);
        }
        hash.update(value);
        if (writing) {
          const p = writers.original.write(value);
          if (p) await p;
        }
        await handle(splitter.push(value));
      }
      await handle(splitter.end());
    }
    if (badLines > 0) {
      throw new ApiError(
        "BAD_REQUEST",
        badLines === 1
          ? "1 line is not a JSON object; nothing was stored"
          : `${badLines} lines are not JSON objects; nothing was stored` +
              (badLines > issues.length ? ` (the first ${issues.length} are listed)` : ""),
        issues,
        { badLines },
      );
    }
    if (rows === 0) throw new ApiError("BAD_REQUEST", "the file has no rows: send one JSON object per line");
    await Promise.all([writers.original.finish(), writers.train.finish(), writers.holdout.finish()]);
  } catch (err) {
    await abortAll().catch((abortErr) => {
      console.error(
        JSON.stringify({
          level: "error",
          message: "dataset upload left R2 writes behind",
          keys: opts.keys,
          error: String(abortErr),
        }),
      );
    });
    if (err instanceof ApiError) throw err;
    // Everything else here comes from R2: the upload is refused whole, as with a bad line.
    console.error(
      JSON.stringify({ level: "error", message: "dataset upload failed in R2", keys: opts.keys, error: String(err) }),
    );
    throw new ApiError("UPSTREAM_FAILED", "storing the dataset failed; nothing was kept, try again");
  }

  return {
    sha256: hash.digest("hex"),
    rows,
    bytes,
    trainRows: rows - holdoutRows,
    holdoutRows,
    stats: stats.stats,
  };
}

/** One row for `storeRows`: `split` pins it (a base dataset's rows keep theirs); otherwise it is hashed. */
export interface RowToStore {
  row: Record<string, unknown>;
  split?: "train" | "holdout";
}

/**
 * Writes a dataset built in the Worker (a curation's output) through the same store as an upload: one
 * JSONL line per row into the original object, each row into its split, SHA-256 over the original's
 * bytes, stats gathered as it goes. A pinned row keeps its split; any other row lands where `rowBucket`
 * of the row without its `meta` puts it, so the same example gets the same split whichever feedback
 * events it was merged from.
 */
export async function storeRows(
  rows: Iterable<RowToStore>,
  opts: { bucket: R2Bucket; keys: IngestKeys; holdoutFraction: number },
): Promise<IngestResult> {
  const writers = {
    original: new R2PartWriter(opts.bucket, opts.keys.original, { httpMetadata: JSONL }),
    train: new R2PartWriter(opts.bucket, opts.keys.train, { httpMetadata: JSONL }),
    holdout: new R2PartWriter(opts.bucket, opts.keys.holdout, { httpMetadata: JSONL }),
  };
  const encoder = new TextEncoder();
  const hash = createHash("sha256");
  const stats = new StatsCollector();
  let bytes = 0;
  let count = 0;
  let holdoutRows = 0;
  const put = async (w: R2PartWriter, data: Uint8Array) => {
    const p = w.write(data);
    if (p) await p;
  };
  try {
    for (const { row, split } of rows) {
      const line = encoder.encode(`${JSON.stringify(row)}\n`);
      const { meta: _meta, ...content } = row;
      const holdout = split ? split === "holdout" : rowBucket(content) < opts.holdoutFraction;
      count++;
      bytes += line.length;
      if (holdout) holdoutRows++;
      stats.add(row);
      hash.update(line);
      await put(writers.original, line);
      await put(holdout ? writers.holdout : writers.train, line);
    }
    await Promise.all([writers.original.finish(), writers.train.finish(), writers.holdout.finish()]);
  } catch (err) {
    await Promise.all(Object.values(writers).map((w) => w.abort())).catch(() => {});
    throw err;
  }
  return {
    sha256: hash.digest("hex"),
    rows: count,
    bytes,
    trainRows: count - holdoutRows,
    holdoutRows,
    stats: stats.stats,
  };
}
