/**
 * R2 multipart parts must all have the same size except the last, which may be smaller, and be at least
 * 5 MiB; parts of exactly this size satisfy both rules. 10,000 parts allow objects of ~50 GiB.
 */
export const PART_SIZE = 5 * 1024 * 1024;

/**
 * Writes one R2 object from many small writes, holding at most two parts in memory: a part is sent as
 * soon as it is full while the next one fills. An object that ends before its first part is full is
 * written with one plain `put` instead. `abort()` leaves nothing behind, whatever state it is in.
 */
export class R2PartWriter {
  bytes = 0;
  private buf: Uint8Array;
  private fill = 0;
  private upload: R2MultipartUpload | null = null;
  private parts: R2UploadedPart[] = [];
  private nextPart = 1;
  private inflight: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private state: "open" | "done" | "aborted" = "open";

  constructor(
    private readonly bucket: R2Bucket,
    readonly key: string,
    private readonly opts: { partSize?: number; httpMetadata?: R2HTTPMetadata } = {},
  ) {
    this.buf = new Uint8Array(this.partSize);
  }

  private get partSize() {
    return this.opts.partSize ?? PART_SIZE;
  }

  /** The multipart upload's id once one was started (a small object never starts one). */
  get uploadId(): string | null {
    return this.upload?.uploadId ?? null;
  }

  /** Appends bytes. Returns a promise only when a part had to be sent; await it before the next write. */
  write(data: Uint8Array): Promise<void> | undefined {
    if (this.state !== "open") throw new Error(`R2PartWriter(${this.key}) is ${this.state}`);
    this.bytes += data.length;
    if (this.fill + data.length < this.partSize) {
      this.buf.set(data, this.fill);
      this.fill += data.length;
      return undefined;
    }
    return this.writeSpanning(data);
  }

  private async writeSpanning(data: Uint8Array) {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.partSize - this.fill, data.length - off);
      this.buf.set(data.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.partSize) await this.sendPart();
    }
  }

  private async sendPart() {
    const part = this.buf.subarray(0, this.fill);
    this.buf = new Uint8Array(this.partSize);
    this.fill = 0;
    const partNumber = this.nextPart++;
    // One part in flight at a time: wait for the previous one, then start this one and return.
    await this.inflight;
    this.throwIfFailed();
    this.upload ??= await this.bucket.createMultipartUpload(this.key, { httpMetadata: this.opts.httpMetadata });
    const upload = this.upload;
    this.inflight = upload.uploadPart(partNumber, part).then(
      (p) => {
        this.parts.push(p);
      },
      (err) => {
        this.failure = err;
      },
    );
  }

  private throwIfFailed() {
    if (this.failure) throw this.failure;
  }

  /** Sends what is left and completes the object. */
  async finish(): Promise<void> {
    if (this.state !== "open") throw new Error(`R2PartWriter(${this.key}) is ${this.state}`);
    await this.inflight;
    this.throwIfFailed();
    if (!this.upload) {
      await this.bucket.put(this.key, this.buf.subarray(0, this.fill), { httpMetadata: this.opts.httpMetadata });
    } else {
      if (this.fill > 0) await this.sendPart();
      await this.inflight;
      this.throwIfFailed();
      this.parts.sort((a, b) => a.partNumber - b.partNumber);
      await this.upload.complete(this.parts);
    }
    this.state = "done";
    this.buf = new Uint8Array(0);
  }

  /** Gives up: aborts an unfinished upload, or deletes the object if it was already completed. */
  async abort(): Promise<void> {
    const was = this.state;
    this.state = "aborted";
    this.buf = new Uint8Array(0);
    if (was === "aborted") return;
    await this.inflight;
    if (was === "done") {
      await this.bucket.delete(this.key);
      return;
    }
    if (this.upload) await this.upload.abort();
  }
}
