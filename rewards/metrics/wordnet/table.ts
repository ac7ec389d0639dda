/**
 * Reads the WordNet table that scripts/gen-wordnet-synonyms.py writes (wordnet.bin) in place: the
 * words and exception lines stay one UTF-8 blob each, found by binary search over their bytes, and the
 * relations are typed arrays. Nothing becomes a JS string until a lookup needs it, so the table costs
 * about its own size in memory and a few milliseconds to open.
 */

const MAGIC = 0x314e5741; // "AWN1"
const VERSION = 1;
const CAPITALISED_ONLY = 0x80000000;
const NEWLINE = 10;
const SPACE = 32;

export const POS = ["n", "v", "a", "r"] as const;
export type Pos = (typeof POS)[number];

export interface WordnetTable {
  /** The id of a lemma key, or -1. */
  wordId(key: string): number;
  /** Bit i set: the key is indexed under POS[i]. */
  posMask(id: number): number;
  /** Synsets the key belongs to. */
  synsetsOf(id: number): Uint32Array;
  synsetPos(synset: number): number;
  /** The members METEOR can match (lowercase single-word names) of a synset. */
  members(synset: number): string[];
  /** morphy's exception list entry for a form (its base forms), or undefined. */
  exception(pos: Pos, form: string): string[] | undefined;
}

/** Line starts of a newline-separated blob, with a final entry one past its end. */
function lineStarts(blob: Uint8Array): Uint32Array {
  let count = 1;
  for (let i = 0; i < blob.length; i++) if (blob[i] === NEWLINE) count++;
  const starts = new Uint32Array(count + 1);
  let n = 1;
  for (let i = 0; i < blob.length; i++) if (blob[i] === NEWLINE) starts[n++] = i + 1;
  starts[count] = blob.length + 1;
  return starts;
}

/** A key as the byte values to compare: its char codes when it is ASCII (no encoding on the hot path). */
interface Key {
  length: number;
  [i: number]: number;
}

function keyBytes(key: string, encoder: TextEncoder): Key {
  const codes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code > 0x7f) return encoder.encode(key);
    codes[i] = code;
  }
  return codes;
}

/** Compares `key` with the line's bytes up to its end or (when `stopAtSpace`) its first space. */
function compareLine(blob: Uint8Array, start: number, end: number, key: Key, stopAtSpace: boolean): number {
  let i = 0;
  for (; start + i < end && i < key.length; i++) {
    const b = blob[start + i]!;
    if (stopAtSpace && b === SPACE) return 1;
    if (b !== key[i]) return key[i]! - b;
  }
  const lineDone = start + i >= end || (stopAtSpace && blob[start + i] === SPACE);
  if (lineDone) return i < key.length ? 1 : 0;
  return -1;
}

function search(blob: Uint8Array, starts: Uint32Array, key: Key, stopAtSpace: boolean): number {
  let lo = 0;
  let hi = starts.length - 2;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareLine(blob, starts[mid]!, starts[mid + 1]! - 1, key, stopAtSpace);
    if (c === 0) return mid;
    if (c > 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

export function openWordnet(buffer: ArrayBuffer): WordnetTable {
  const head = new Uint32Array(buffer, 0, 3);
  if (head[0] !== MAGIC || head[1] !== VERSION) throw new Error("wordnet.bin: not a version-1 WordNet table");
  const lengths = new Uint32Array(buffer, 12, head[2]!);
  let offset = 12 + 4 * lengths.length;
  const take = <T>(make: (at: number, length: number) => T, length: number, width: number): T => {
    const view = make(offset, length);
    offset = (offset + length * width + 3) & ~3;
    return view;
  };
  const bytes = (length: number) => take((at, n) => new Uint8Array(buffer, at, n), length, 1);
  const words = bytes(lengths[0]!);
  const masks = bytes(lengths[1]!);
  const synsetPos = bytes(lengths[2]!);
  const memberCounts = bytes(lengths[3]!);
  const memberRefs = take((at, n) => new Uint32Array(buffer, at, n), lengths[4]!, 4);
  const exceptions = bytes(lengths[5]!);

  const wordStarts = lineStarts(words);
  const exceptionStarts = lineStarts(exceptions);
  const memberStart = new Uint32Array(memberCounts.length + 1);
  for (let s = 0; s < memberCounts.length; s++) memberStart[s + 1] = memberStart[s]! + memberCounts[s]!;

  // The word -> synsets relation, inverted from synset -> members by a counting sort.
  const wordCount = masks.length;
  const synsetStart = new Uint32Array(wordCount + 1);
  for (const ref of memberRefs) synsetStart[(ref & ~CAPITALISED_ONLY) + 1]!++;
  for (let w = 0; w < wordCount; w++) synsetStart[w + 1]! += synsetStart[w]!;
  const fill = synsetStart.slice(0, wordCount);
  const synsetsByWord = new Uint32Array(memberRefs.length);
  for (let s = 0; s < memberCounts.length; s++) {
    for (let i = memberStart[s]!; i < memberStart[s + 1]!; i++) {
      const w = memberRefs[i]! & ~CAPITALISED_ONLY;
      synsetsByWord[fill[w]!++] = s;
    }
  }

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const word = (id: number) => {
    const bytes = words.subarray(wordStarts[id]!, wordStarts[id + 1]! - 1);
    // Most keys are ASCII: building those from char codes is several times faster than a TextDecoder call.
    for (const b of bytes) if (b > 0x7f) return decoder.decode(bytes);
    return String.fromCharCode(...bytes);
  };

  return {
    wordId: (key) => search(words, wordStarts, keyBytes(key, encoder), false),
    posMask: (id) => masks[id]!,
    synsetsOf: (id) => synsetsByWord.subarray(synsetStart[id]!, synsetStart[id + 1]!),
    synsetPos: (s) => synsetPos[s]!,
    members(s) {
      const out: string[] = [];
      for (let i = memberStart[s]!; i < memberStart[s + 1]!; i++) {
        const ref = memberRefs[i]!;
        if ((ref & CAPITALISED_ONLY) === 0) out.push(word(ref));
      }
      return out;
    },
    exception(pos, form) {
      const line = search(exceptions, exceptionStarts, keyBytes(pos + form, encoder), true);
      if (line < 0) return undefined;
      const text = decoder.decode(exceptions.subarray(exceptionStarts[line]!, exceptionStarts[line + 1]! - 1));
      return text.split(" ").slice(1);
    },
  };
}
