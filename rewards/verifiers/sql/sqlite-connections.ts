/** Read-only connections kept open, by count and by the bytes of their images. */
const OPEN_CONNECTIONS = 8;
const OPEN_BYTES = 32 * 1024 * 1024;

/**
 * The read-only connections an engine keeps open, by image, least recently used first. Not the shared
 * Lru (rewards/lib/lru.ts): an evicted entry is a connection to close, room is made before the next one
 * is opened (so the two never hold the heap together), and an image larger than the whole budget is
 * still kept, alone, because its queries reuse it as much as any other.
 */
export class ConnectionCache {
  private readonly open = new Map<Uint8Array, number>();
  private bytes = 0;

  constructor(
    private readonly close: (db: number) => void,
    private readonly maxConnections = OPEN_CONNECTIONS,
    private readonly maxBytes = OPEN_BYTES,
  ) {}

  /** The kept connection over `image`, opened with `connect` (and kept) when there is none. */
  get(image: Uint8Array, connect: (image: Uint8Array) => number): number {
    let db = this.open.get(image);
    if (db) {
      this.open.delete(image);
    } else {
      this.evict(image.length);
      db = connect(image);
      this.bytes += image.length;
    }
    this.open.set(image, db);
    return db;
  }

  /** Forgets every connection without closing it: after a WASM trap the engine's memory is not to be touched. */
  forgetAll(): void {
    this.open.clear();
    this.bytes = 0;
  }

  /** Closes kept connections until `incoming` more bytes fit (all of them when it does not fit at all). */
  private evict(incoming: number) {
    for (const [image, db] of this.open) {
      if (this.open.size < this.maxConnections && this.bytes + incoming <= this.maxBytes) break;
      this.open.delete(image);
      this.bytes -= image.length;
      this.close(db);
    }
  }
}
