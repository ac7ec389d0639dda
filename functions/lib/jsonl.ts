import { canonicalJson } from "../../rewards/core/canonical";

const NL = 0x0a;
const CR = 0x0d;

/** Lines longer than this are reported as bad lines instead of being held in memory. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * Splits a byte stream into lines without decoding it. Complete lines are views into the chunk they
 * came from (no copy); only a line that spans chunks is joined, once, when its newline arrives, so the
 * work stays linear however the stream is cut. A trailing `\r` is dropped and a UTF-8 byte order mark
 * before the first line is skipped. A line over `maxLine` bytes is emitted as `null` and not kept.
 */
export class LineSplitter {
  /** 1-based number of the last line emitted. */
  lineNo = 0;
  /** Stream offset just after the newline of each line of the last `push`, parallel to its result. */
  readonly ends: number[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private overflow = false;
  private offset: number;

  constructor(private readonly opts: { startOffset?: number; skipBom?: boolean; maxLine?: number } = {}) {
    this.offset = opts.startOffset ?? 0;
  }

  /** Feeds a chunk; returns the lines it completed (null for an over-long line). */
  push(chunk: Uint8Array): (Uint8Array | null)[] {
    const out: (Uint8Array | null)[] = [];
    this.ends.length = 0;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) break;
      this.emit(out, chunk.subarray(start, nl), this.offset + nl + 1);
      start = nl + 1;
    }
    if (start < chunk.length) this.hold(chunk.subarray(start));
    this.offset += chunk.length;
    return out;
  }

  /** Ends the stream: the last line, when the file does not end with a newline. */
  end(): (Uint8Array | null)[] {
    const out: (Uint8Array | null)[] = [];
    this.ends.length = 0;
    if (this.pendingBytes > 0 || this.overflow) this.emit(out, new Uint8Array(0), this.offset);
    return out;
  }

  private hold(part: Uint8Array) {
    if (this.overflow) return;
    this.pendingBytes += part.length;
    if (this.pendingBytes > (this.opts.maxLine ?? MAX_LINE_BYTES)) {
      this.overflow = true;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(part);
  }

  private emit(out: (Uint8Array | null)[], tail: Uint8Array, end: number) {
    this.lineNo++;
    this.ends.push(end);
    if (this.overflow || this.pendingBytes + tail.length > (this.opts.maxLine ?? MAX_LINE_BYTES)) {
      this.overflow = false;
      this.pending = [];
      this.pendingBytes = 0;
      out.push(null);
      return;
    }
    let line = tail;
    if (this.pending.length > 0) {
      line = new Uint8Array(this.pendingBytes + tail.length);
      let at = 0;
      for (const p of this.pending) {
        line.set(p, at);
        at += p.length;
      }
      line.set(tail, at);
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (this.lineNo === 1 && this.opts.skipBom && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) {
      line = line.subarray(3);
    }
    out.push(line);
  }
}

/** True when a line holds nothing but spaces and tabs (such lines are skipped, not rows). */
export function isBlank(line: Uint8Array): boolean {
  for (let i = 0; i < line.length; i++) {
    const b = line[i];
    if (b !== 0x20 && b !== 0x09) return false;
  }
  return true;
}

/**
 * 32-bit FNV-1a over the UTF-8 encoding of a string, computed from its code points without encoding
 * it first. A lone surrogate counts as U+FFFD, as TextEncoder would write it.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const lo = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xdc00 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), 0x01000193);
    } else {
      if (c < 0x10000) h = Math.imul(h ^ (0xe0 | (c >> 12)), 0x01000193);
      else {
        h = Math.imul(h ^ (0xf0 | (c >> 18)), 0x01000193);
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), 0x01000193);
      }
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), 0x01000193);
    }
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's 32-bit finaliser: spreads every input bit over the high bits that the split reads. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Where a row goes, frozen (changing it would move rows between train and holdout): the 32-bit FNV-1a
 * hash of the UTF-8 bytes of the row's canonical JSON, passed through MurmurHash3's fmix32 and divided
 * by 2^32, gives a number in [0, 1); the row is in the holdout split when that number is below the
 * holdout fraction. The same row always lands in the same split, and the holdout for a fraction contains
 * the holdout for any smaller fraction. A non-cryptographic hash is enough (the uploader chooses the rows
 * anyway) and costs a fifth of a SHA-256 call per row in workerd.
 *
 * @example
 * rowBucket({ q: "2+2", answer: "4" }) // fmix32(fnv1a32('{"answer":"4","q":"2+2"}')) / 2 ** 32
 */
export function rowBucket(row: unknown): number {
  return fmix32(fnv1a32(canonicalJson(row))) / 0x1_0000_0000;
}
