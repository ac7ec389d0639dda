import { ApiError, badRequest } from "./errors";
import { isBlank, LineSplitter } from "./jsonl";

export type RowSource = "original" | "train" | "holdout";

/** A page stops early, before `limit` rows, once it holds this many bytes of rows. */
export const MAX_PAGE_BYTES = 8 * 1024 * 1024;

const CURSOR_RE = /^(original|train|holdout)\.([1-9]\d{0,14})$/;

/** Cursors name the file they page through and the byte offset of the next line's start. */
export function encodeCursor(source: RowSource, offset: number): string {
  return btoa(`${source}.${offset}`).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor(cursor: string, source: RowSource): number {
  let text: string;
  try {
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw malformed();
  }
  const m = CURSOR_RE.exec(text);
  if (!m || m[1] !== source) throw malformed();
  return Number(m[2]);
}

const malformed = () =>
  badRequest("malformed cursor: pass the nextCursor of a previous page of the same dataset and split", [
    { path: ["cursor"], message: "not a cursor of this dataset and split", code: "invalid_cursor" },
  ]);

/**
 * Reads up to `limit` rows of a JSONL object from a byte offset with one ranged read, stopping (and
 * cancelling the rest of the transfer) as soon as the page is full. A cursor must point just after a
 * newline: the read starts one byte early to check that, so a forged offset is refused, not misread.
 */
export async function readRows(
  bucket: R2Bucket,
  key: string,
  source: RowSource,
  opts: { cursor?: string; limit: number },
): Promise<{ data: Record<string, unknown>[]; nextCursor: string | null } | null> {
  const offset = opts.cursor ? decodeCursor(opts.cursor, source) : 0;
  let obj: R2ObjectBody | null;
  try {
    obj = await bucket.get(key, offset > 0 ? { range: { offset: offset - 1 } } : undefined);
  } catch (err) {
    // R2 refuses a range that starts past the end of the object.
    if (offset > 0) throw malformed();
    throw new ApiError("UPSTREAM_FAILED", `reading the dataset failed: ${String(err)}`);
  }
  if (!obj) return null;
  if (offset > 0 && offset >= obj.size) {
    await obj.body.cancel();
    throw malformed();
  }

  const reader = obj.body.getReader();
  const splitter = new LineSplitter({ startOffset: offset > 0 ? offset - 1 : 0, skipBom: offset === 0 });
  const decoder = new TextDecoder();
  const data: Record<string, unknown>[] = [];
  let pageBytes = 0;
  let checkedLead = offset === 0;
  let full = false;
  let nextStart = -1;
  let prevEnd = offset;

  const take = (lines: (Uint8Array | null)[]) => {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (!checkedLead) {
        // The byte before the cursor's offset, read alone as an (empty) line when it is a newline.
        checkedLead = true;
        if (line === null || line.length !== 0 || splitter.ends[i] !== offset) throw malformed();
        continue;
      }
      if (line === null || isBlank(line)) continue;
      if (full) {
        // A non-empty line follows the full page: the next page starts at that line.
        nextStart = (i > 0 ? splitter.ends[i - 1] : prevEnd) ?? -1;
        return true;
      }
      data.push(JSON.parse(decoder.decode(line)) as Record<string, unknown>);
      pageBytes += line.length;
      if (data.length >= opts.limit || pageBytes >= MAX_PAGE_BYTES) full = true;
    }
    return false;
  };

  try {
    for (;;) {
      const { done, value } = await reader.read();
      const lines = done ? splitter.end() : splitter.push(value);
      const stop = take(lines);
      if (lines.length > 0) prevEnd = splitter.ends[lines.length - 1]!;
      if (stop || done) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (!checkedLead) throw malformed();
  return { data, nextCursor: nextStart > 0 ? encodeCursor(source, nextStart) : null };
}
