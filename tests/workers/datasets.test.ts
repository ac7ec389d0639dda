/// <reference types="vite/client" />
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ingestJsonl } from "../../functions/lib/datasets-ingest";
import { R2PartWriter } from "../../functions/lib/datasets-r2";
import { ApiError } from "../../functions/lib/errors";
import { fnv1a32, LineSplitter, rowBucket } from "../../functions/lib/jsonl";
import mixed from "./fixtures/datasets/mixed.jsonl?raw";
import { BASE, call, createApiKey, expectError, expectStatus } from "./helpers";

const NDJSON = { "content-type": "application/x-ndjson" };
const enc = new TextEncoder();

type Row = Record<string, unknown>;

function jsonl(rows: unknown[]): string {
  return `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;
}

async function upload(body: BodyInit, query = "", headers: Record<string, string> = NDJSON) {
  return call("POST", `/v1/datasets${query}`, { raw: body, headers });
}

async function uploadOk(body: BodyInit, query = "") {
  const res = await upload(body, query);
  expectStatus(res, 201);
  return res.json as {
    id: string;
    name: string | null;
    sha256: string;
    rows: number;
    bytes: number;
    splits: { train: number; holdout: number };
    holdoutFraction: number;
    createdAt: string;
    stats: { labelled: number; preferencePairs: number; verifiable: number; fields: Record<string, number> };
  };
}

/** Follows nextCursor to the end; returns every row and the number of pages. */
async function allRows(id: string, split?: "train" | "holdout", limit = 1000) {
  const rows: Row[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q = new URLSearchParams({ limit: String(limit) });
    if (split) q.set("split", split);
    if (cursor) q.set("cursor", cursor);
    const res = await call("GET", `/v1/datasets/${id}/rows?${q}`);
    expectStatus(res, 200);
    rows.push(...res.json.data);
    cursor = res.json.nextCursor;
    pages++;
  } while (cursor);
  return { rows, pages };
}

async function sha256(text: string | Uint8Array): Promise<string> {
  const bytes = typeof text === "string" ? enc.encode(text) : text;
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

async function listKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page: R2Objects = await env.BLOBS.list({ cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.sort();
}

/** A body produced chunk by chunk, never held whole: `next()` returns the next piece or null at the end. */
function streamOf(next: () => string | null): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = next();
      if (piece === null) controller.close();
      else controller.enqueue(enc.encode(piece));
    },
  });
}

const MIXED_ROWS = mixed
  .replace(/^\uFEFF/, "")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Row);

describe("POST /v1/datasets", () => {
  it("stores a JSONL file, its splits and its stats, and answers with the dataset", async () => {
    const bytes = enc.encode(mixed);
    const ds = await uploadOk(bytes, "?name=mixed&holdout=0.5");
    expect(ds).toEqual({
      id: expect.stringMatching(/^ds_[0-9a-z]{26}$/),
      name: "mixed",
      sha256: await sha256(bytes),
      rows: 10,
      bytes: bytes.length,
      splits: { train: expect.any(Number), holdout: expect.any(Number) },
      holdoutFraction: 0.5,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      stats: {
        labelled: 5,
        preferencePairs: 1,
        verifiable: 5,
        fields: {
          prompt: 9,
          answer: 3,
          meta: 1,
          messages: 1,
          query: 1,
          db_id: 1,
          chosen: 1,
          rejected: 1,
          completion: 1,
          tests: 1,
          entry_point: 1,
          schema: 1,
        },
      },
      parent: null,
      curation: null,
    });
    expect(ds.splits.train + ds.splits.holdout).toBe(10);

    const got = await call("GET", `/v1/datasets/${ds.id}`);
    expectStatus(got, 200);
    expect(got.json).toEqual(ds);

    const listed = await call("GET", "/v1/datasets?limit=500");
    expectStatus(listed, 200);
    expect(listed.json.data.find((d: { id: string }) => d.id === ds.id)).toEqual(ds);

    // The original file comes back row for row, BOM, CRLF and blank lines notwithstanding.
    expect((await allRows(ds.id)).rows).toEqual(MIXED_ROWS);
    const train = (await allRows(ds.id, "train")).rows;
    const holdout = (await allRows(ds.id, "holdout")).rows;
    expect(train).toHaveLength(ds.splits.train);
    expect(holdout).toHaveLength(ds.splits.holdout);
    const key = (r: Row) => JSON.stringify(r);
    expect([...train, ...holdout].map(key).sort()).toEqual(MIXED_ROWS.map(key).sort());

    // R2 holds the original bytes untouched and one JSONL file per split.
    const original = await env.BLOBS.get(`datasets/${ds.id}/original.jsonl`);
    const stored = new Uint8Array(await original!.arrayBuffer());
    expect(stored[0]).toBe(0xef); // the byte order mark is kept in the original
    expect(Array.from(stored)).toEqual(Array.from(bytes));
    const trainText = await (await env.BLOBS.get(`datasets/${ds.id}/train.jsonl`))!.text();
    expect(
      trainText
        .split("\n")
        .slice(0, -1)
        .map((l) => JSON.parse(l)),
    ).toEqual(train);
    expect(trainText.endsWith("\n") && !trainText.includes("\r")).toBe(true);
  });

  it("assigns each row by the documented hash of its canonical JSON, whatever the key order", async () => {
    // The rule, written out over UTF-8 bytes: FNV-1a 32, then MurmurHash3's fmix32, over 2^32.
    const bucket = (canonical: string) => {
      let h = 0x811c9dc5;
      for (const b of enc.encode(canonical)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b) >>> 0;
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35) >>> 0;
      h ^= h >>> 16;
      return (h >>> 0) / 2 ** 32;
    };
    // Values from an independent Python implementation (json.dumps with sort_keys, ensure_ascii=False).
    expect(bucket('{"answer":"4","q":"2+2"}')).toBe(1864146684 / 2 ** 32);
    expect(rowBucket({ q: "2+2", answer: "4" })).toBe(1864146684 / 2 ** 32);
    expect(rowBucket({ z: [1, { b: null, a: true }], prompt: "café — 🙂" })).toBe(1555263535 / 2 ** 32);

    const rows = Array.from({ length: 300 }, (_, i) => ({ id: i, q: `question ${i} — ${"é🙂".repeat(i % 3)}` }));
    // Uploaded with keys in reverse order; the canonical text sorts them back to {"id":…,"q":…}.
    const reversed = rows.map((r) => `{"q":${JSON.stringify(r.q)},"id":${r.id}}`).join("\n");
    const ds = await uploadOk(reversed, "?holdout=0.3");
    const expectedHoldout = rows.filter((r) => bucket(JSON.stringify(r)) < 0.3).map((r) => r.id);
    const holdout = (await allRows(ds.id, "holdout")).rows;
    expect(holdout.map((r) => r.id)).toEqual(expectedHoldout);
    expect(ds.splits).toEqual({ train: 300 - expectedHoldout.length, holdout: expectedHoldout.length });
    expect(expectedHoldout.length).toBeGreaterThan(50);
  });

  it("hashes UTF-8 exactly as the bytes TextEncoder writes", () => {
    expect([fnv1a32(""), fnv1a32("a"), fnv1a32("foobar")]).toEqual([0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
    for (const text of ["café", "€ and 𝄞", "\ud800 lone", "end \udc00", "\u07ff\u0800\uffff"]) {
      let h = 0x811c9dc5;
      for (const b of enc.encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
      expect(fnv1a32(text)).toBe(h);
    }
  });

  it("gives the same splits to the same file uploaded twice, and to its rows with keys reordered", async () => {
    const rows = Array.from({ length: 500 }, (_, i) => ({
      prompt: `p${i}`,
      answer: String(i * 7),
      meta: { n: i, tags: ["a", "b"], z: null, a: true },
    }));
    const text = jsonl(rows);
    const first = await uploadOk(text, "?holdout=0.2");
    const second = await uploadOk(text, "?holdout=0.2");
    expect(second.id).not.toBe(first.id);
    expect(second.sha256).toBe(first.sha256);
    expect(second.splits).toEqual(first.splits);
    for (const split of ["train", "holdout"] as const) {
      expect((await allRows(second.id, split)).rows).toEqual((await allRows(first.id, split)).rows);
    }

    const reorder = (r: (typeof rows)[number]) => ({
      meta: { a: r.meta.a, z: r.meta.z, tags: r.meta.tags, n: r.meta.n },
      answer: r.answer,
      prompt: r.prompt,
    });
    const shuffled = await uploadOk(jsonl(rows.map(reorder)), "?holdout=0.2");
    expect(shuffled.sha256).not.toBe(first.sha256);
    expect(shuffled.splits).toEqual(first.splits);
    const ids = (rs: Row[]) => rs.map((r) => r.prompt);
    expect(ids((await allRows(shuffled.id, "holdout")).rows)).toEqual(ids((await allRows(first.id, "holdout")).rows));
    expect(ids((await allRows(shuffled.id, "train")).rows)).toEqual(ids((await allRows(first.id, "train")).rows));
  });

  it("rejects a file with bad lines whole, listing each by line number, and leaves nothing in R2", async () => {
    const before = await listKeys();
    // Over 6 MiB of good rows first, so that multipart parts were already sent when the bad lines arrive.
    const good = jsonl(
      Array.from({ length: 40_000 }, (_, i) => ({ prompt: `row ${i} ${"x".repeat(150)}`, answer: i })),
    );
    const goodLines = 40_000;
    expect(good.length).toBeGreaterThan(6 * 1024 * 1024);
    const tail = ['{"ok":1}', "[1,2]", "{broken", '"text"', "", "null", "#", '{"ok":2}'].join("\n");
    const body = enc.encode(good + tail);
    body[body.length - 10] = 0xff; // the "#" line becomes a lone byte that is not UTF-8
    const res = await upload(body);
    expectError(res, 400, "BAD_REQUEST");
    const n = goodLines;
    expect(res.json.error.badLines).toBe(5);
    expect(res.json.error.message).toBe("5 lines are not JSON objects; nothing was stored");
    expect(res.json.error.issues).toEqual([
      { path: ["line", n + 2], code: "not_an_object", message: `line ${n + 2} is an array, not a JSON object` },
      {
        path: ["line", n + 3],
        code: "invalid_json",
        message: expect.stringMatching(`^line ${n + 3} is not valid JSON: `),
      },
      { path: ["line", n + 4], code: "not_an_object", message: `line ${n + 4} is a string, not a JSON object` },
      { path: ["line", n + 6], code: "not_an_object", message: `line ${n + 6} is null, not a JSON object` },
      { path: ["line", n + 7], code: "invalid_utf8", message: `line ${n + 7} is not valid UTF-8` },
    ]);
    expect(await listKeys()).toEqual(before);
  });

  it("lists the first 100 bad lines and counts them all", async () => {
    const lines = Array.from({ length: 250 }, (_, i) => (i % 2 ? "[]" : '{"a":1}'));
    const res = await upload(lines.join("\n"));
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.badLines).toBe(125);
    expect(res.json.error.message).toBe(
      "125 lines are not JSON objects; nothing was stored (the first 100 are listed)",
    );
    expect(res.json.error.issues.map((i: { path: unknown[] }) => i.path)).toEqual(
      Array.from({ length: 100 }, (_, i) => ["line", 2 * i + 2]),
    );
  });

  it("aborts its multipart upload so that nothing can be completed afterwards", async () => {
    const key = `test/aborted-${crypto.randomUUID()}.jsonl`;
    const writer = new R2PartWriter(env.BLOBS, key);
    const chunk = new Uint8Array(1024 * 1024).fill(0x41);
    for (let i = 0; i < 11; i++) await writer.write(chunk);
    const uploadId = writer.uploadId;
    expect(uploadId).toEqual(expect.any(String));
    await writer.abort();
    const resumed = env.BLOBS.resumeMultipartUpload(key, uploadId!);
    await expect(resumed.uploadPart(3, new Uint8Array(10))).rejects.toThrow();
    expect(await env.BLOBS.head(key)).toBeNull();
  });

  it("writes an object bigger than a part in equal 5 MiB parts that read back byte for byte", async () => {
    const key = `test/parts-${crypto.randomUUID()}.bin`;
    const writer = new R2PartWriter(env.BLOBS, key);
    const total = 12 * 1024 * 1024 + 12345;
    const expected = new Uint8Array(total);
    for (let i = 0; i < total; i++) expected[i] = (i * 31 + 7) & 0xff;
    // Odd-sized writes that straddle part boundaries.
    for (let off = 0; off < total; off += 777_777) await writer.write(expected.subarray(off, off + 777_777));
    await writer.finish();
    const obj = await env.BLOBS.get(key);
    const got = new Uint8Array(await obj!.arrayBuffer());
    // Compared by digest: a deep equality over 12 million elements exhausts the test's heap.
    expect({ size: got.length, sha256: await sha256(got) }).toEqual({ size: total, sha256: await sha256(expected) });
    await env.BLOBS.delete(key);
  });

  it("stops reading a body over the size limit with 413 and stores nothing", async () => {
    const before = await listKeys();
    let sent = 0;
    const line = `${JSON.stringify({ pad: "y".repeat(1000) })}\n`;
    const body = streamOf(() => {
      sent++;
      return sent > 20_000 ? null : line.repeat(100);
    });
    const keys = { original: "test/limit/original", train: "test/limit/train", holdout: "test/limit/holdout" };
    const err = await ingestJsonl(body, {
      bucket: env.BLOBS,
      keys,
      holdoutFraction: 0.5,
      maxBytes: 12 * 1024 * 1024,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: "PAYLOAD_TOO_LARGE", status: 413 });
    // It gave up soon after the limit instead of reading all ~2 GB.
    expect(sent).toBeLessThan(200);
    expect(await listKeys()).toEqual(before);
  });

  it("counts field names such as __proto__ and constructor like any other, and caps distinct names", async () => {
    const wide = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, i]));
    const body = `{"__proto__":{"x":1},"constructor":1,"answer":"a"}\n{"__proto__":2}\n${JSON.stringify(wide)}\n`;
    const ds = await uploadOk(body);
    const fields = ds.stats.fields;
    expect(
      ["__proto__", "constructor", "answer"].map((k) => Object.getOwnPropertyDescriptor(fields, k)?.value),
    ).toEqual([2, 1, 1]);
    // 3 names from the first rows + 253 of the wide row make 256 distinct names; the other 47 are lumped.
    expect(Object.keys(fields)).toHaveLength(257);
    expect(fields["(other)"]).toBe(47);
    expect(fields.f252).toBe(1);
    expect(fields.f253).toBeUndefined();
  });

  it("refuses an upload whose stream breaks midway and stores nothing", async () => {
    const before = await listKeys();
    let n = 0;
    const line = `${JSON.stringify({ prompt: "p".repeat(500), answer: "a" })}\n`.repeat(200);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // ~12 MB arrive (so parts were sent) before the connection drops.
        if (++n > 120) controller.error(new Error("connection reset"));
        else controller.enqueue(enc.encode(line));
      },
    });
    const keys = { original: "test/broken/original", train: "test/broken/train", holdout: "test/broken/holdout" };
    const err = await ingestJsonl(body, { bucket: env.BLOBS, keys, holdoutFraction: 0.1, maxBytes: 1e9 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: "BAD_REQUEST", message: "the upload was interrupted: connection reset" });
    expect(await listKeys()).toEqual(before);
  });

  it("refuses bodies that are not JSONL with 415", async () => {
    const body = '{"a":1}\n';
    for (const ct of ["application/json", "text/plain", "multipart/form-data; boundary=x"]) {
      const res = await upload(body, "", { "content-type": ct });
      expectError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
      expect(res.json.error.message).toContain("application/x-ndjson");
    }
    expectError(await upload(body, "", {}), 415, "UNSUPPORTED_MEDIA_TYPE");
    const ok = await upload(body, "", { "content-type": "application/jsonl; charset=utf-8" });
    expectStatus(ok, 201);
  });

  it("refuses an empty file and one with only blank lines", async () => {
    for (const body of ["", "\n\n", "  \r\n\t\n"]) {
      const res = await upload(body);
      expectError(res, 400, "BAD_REQUEST");
      expect(res.json.error.message).toBe("the file has no rows: send one JSON object per line");
    }
  });

  it("validates the name and the holdout fraction", async () => {
    for (const q of ["?holdout=0", "?holdout=0.51", "?holdout=-0.1", "?holdout=abc", "?name="]) {
      const res = await upload('{"a":1}\n', q);
      expectError(res, 400, "BAD_REQUEST");
    }
    const half = await uploadOk('{"a":1}\n', "?holdout=0.5");
    expect(half.holdoutFraction).toBe(0.5);
    const dflt = await uploadOk('{"a":1}\n');
    expect(dflt).toMatchObject({ holdoutFraction: 0.1, name: null });
  });

  it("accepts a ~48 MB upload streamed in chunks and counts it right", async () => {
    const target = 48 * 1024 * 1024;
    const hash = createHash("sha256");
    let sent = 0;
    let rows = 0;
    let labelled = 0;
    const body = streamOf(() => {
      if (sent >= target) return null;
      let piece = "";
      while (piece.length < 256 * 1024) {
        const row: Row = { id: rows, prompt: `Question ${rows}: ${"lorem ipsum ".repeat(rows % 20)}` };
        if (rows % 3 === 0) row.answer = String(rows);
        if (rows % 3 === 0) labelled++;
        piece += `${JSON.stringify(row)}\n`;
        rows++;
      }
      hash.update(piece);
      sent += piece.length;
      return piece;
    });
    const started = Date.now();
    const res = await SELF.fetch(`${BASE}/v1/datasets?name=large`, {
      method: "POST",
      headers: { ...NDJSON, authorization: "Bearer test-admin-key" },
      body,
    });
    const ms = Date.now() - started;
    const text = await res.text();
    expectStatus({ status: res.status, text }, 201);
    const ds = JSON.parse(text);
    console.log(
      `datasets: uploaded ${(sent / 1e6).toFixed(1)} MB, ${rows} rows in ${ms} ms = ${(sent / 1e6 / (ms / 1000)).toFixed(1)} MB/s`,
    );
    expect(ds).toMatchObject({
      name: "large",
      sha256: hash.digest("hex"),
      rows,
      bytes: sent,
      stats: {
        labelled,
        preferencePairs: 0,
        verifiable: labelled,
        fields: { id: rows, prompt: rows, answer: labelled },
      },
    });
    expect(ds.splits.train + ds.splits.holdout).toBe(rows);
    // A hash split of this many rows at 10% lands within a percent of it.
    expect(Math.abs(ds.splits.holdout / rows - 0.1)).toBeLessThan(0.01);
    const original = await env.BLOBS.head(`datasets/${ds.id}/original.jsonl`);
    expect(original!.size).toBe(sent);
    const [train, holdout] = await Promise.all([
      env.BLOBS.head(`datasets/${ds.id}/train.jsonl`),
      env.BLOBS.head(`datasets/${ds.id}/holdout.jsonl`),
    ]);
    // Splits hold the same lines as the original, newline-terminated: their sizes add up to its size.
    expect(train!.size + holdout!.size).toBe(sent);
    // The last page of the holdout split is reached through cursors and ends with a null cursor.
    const last = await call("GET", `/v1/datasets/${ds.id}/rows?split=holdout&limit=1000`);
    expectStatus(last, 200);
    expect(last.json.data).toHaveLength(1000);
    expect(last.json.nextCursor).toEqual(expect.any(String));
  });
});

describe("GET /v1/datasets/{id}/rows", () => {
  it("pages through every row exactly once, in file order, for the file and each split", async () => {
    const rows = Array.from({ length: 1234 }, (_, i) => ({ i, text: `row ${i}` }));
    // Blank lines in the file are skipped, including a run of them at the very end.
    const text = `${jsonl(rows.slice(0, 600))}\n\n${jsonl(rows.slice(600))}\n\n\n`;
    const ds = await uploadOk(text, "?holdout=0.25");
    const whole = await allRows(ds.id, undefined, 100);
    expect(whole.pages).toBe(13);
    expect(whole.rows).toEqual(rows);
    const train = await allRows(ds.id, "train", 77);
    const holdout = await allRows(ds.id, "holdout", 77);
    expect(train.pages).toBe(Math.ceil(ds.splits.train / 77));
    expect(holdout.pages).toBe(Math.ceil(ds.splits.holdout / 77));
    const merged = [...train.rows, ...holdout.rows].sort((a, b) => (a.i as number) - (b.i as number));
    expect(merged).toEqual(rows);
    // Each split keeps file order.
    for (const part of [train.rows, holdout.rows]) {
      expect(part.map((r) => r.i)).toEqual([...part.map((r) => r.i as number)].sort((a, b) => a - b));
    }
  });

  it("defaults to 100 rows a page and refuses a limit over 1000", async () => {
    const ds = await uploadOk(jsonl(Array.from({ length: 150 }, (_, i) => ({ i }))));
    const first = await call("GET", `/v1/datasets/${ds.id}/rows`);
    expectStatus(first, 200);
    expect(first.json.data).toEqual(Array.from({ length: 100 }, (_, i) => ({ i })));
    const second = await call("GET", `/v1/datasets/${ds.id}/rows?cursor=${first.json.nextCursor}`);
    expect(second.json).toEqual({ data: Array.from({ length: 50 }, (_, i) => ({ i: 100 + i })), nextCursor: null });
    expectError(await call("GET", `/v1/datasets/${ds.id}/rows?limit=1001`), 400, "BAD_REQUEST");
    expectError(await call("GET", `/v1/datasets/${ds.id}/rows?limit=0`), 400, "BAD_REQUEST");
    expectError(await call("GET", `/v1/datasets/${ds.id}/rows?split=test`), 400, "BAD_REQUEST");
  });

  it("ends a page early once it holds 8 MiB of rows, and the next page carries on", async () => {
    const big = "z".repeat(300_000);
    const rows = Array.from({ length: 40 }, (_, i) => ({ i, big }));
    const ds = await uploadOk(jsonl(rows));
    const first = await call("GET", `/v1/datasets/${ds.id}/rows?limit=1000`);
    expectStatus(first, 200);
    // 28 rows of ~300 KB make 8.4 MB, the first count past 8 MiB.
    expect(first.json.data.map((r: Row) => r.i)).toEqual(Array.from({ length: 28 }, (_, i) => i));
    const rest = await call("GET", `/v1/datasets/${ds.id}/rows?limit=1000&cursor=${first.json.nextCursor}`);
    expect(rest.json.data.map((r: Row) => r.i)).toEqual(Array.from({ length: 12 }, (_, i) => 28 + i));
    expect(rest.json.nextCursor).toBeNull();
  });

  it("refuses malformed, forged and foreign cursors with 400", async () => {
    const ds = await uploadOk(jsonl(Array.from({ length: 50 }, (_, i) => ({ i, pad: "x".repeat(i) }))), "?holdout=0.5");
    const page = await call("GET", `/v1/datasets/${ds.id}/rows?limit=10`);
    const good = page.json.nextCursor as string;
    const offset = Number(atob(good).split(".")[1]);
    const b64 = (s: string) => btoa(s).replaceAll("=", "");
    const bad = [
      "not-a-cursor!!",
      "%%%",
      b64("original.abc"),
      b64(`original.${offset + 3}`), // inside a line
      b64(`original.${ds.bytes + 100}`), // past the end
      b64(`original.${ds.bytes}`), // at the very end
      b64(`train.${offset}`), // another split's file
      b64("original.0"),
    ];
    for (const cursor of bad) {
      const res = await call("GET", `/v1/datasets/${ds.id}/rows?limit=10&cursor=${encodeURIComponent(cursor)}`);
      expectError(res, 400, "BAD_REQUEST");
      expect(res.json.error.issues).toEqual([expect.objectContaining({ path: ["cursor"] })]);
    }
    const next = await call("GET", `/v1/datasets/${ds.id}/rows?limit=10&cursor=${good}`);
    expectStatus(next, 200);
    expect(next.json.data.map((r: Row) => r.i)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });
});

describe("LineSplitter", () => {
  const text = '\ufeff{"a":1}\r\n\n{"b":"é🙂"}\n  \n{"c":[1,2,3]}';
  const expected = ['{"a":1}', "", '{"b":"é🙂"}', "  ", '{"c":[1,2,3]}'];

  it("yields the same lines however the stream is cut", () => {
    const bytes = enc.encode(text);
    const dec = new TextDecoder();
    for (let size = 1; size <= bytes.length; size++) {
      const splitter = new LineSplitter({ skipBom: true });
      const lines: string[] = [];
      const ends: number[] = [];
      for (let off = 0; off < bytes.length; off += size) {
        for (const l of splitter.push(bytes.subarray(off, off + size))) lines.push(dec.decode(l!));
        ends.push(...splitter.ends);
      }
      for (const l of splitter.end()) lines.push(dec.decode(l!));
      ends.push(...splitter.ends);
      expect(lines).toEqual(expected);
      // Each end is the offset just past the line's newline (or the end of the stream for the last line).
      expect(ends).toEqual(
        [...bytes.keys()]
          .filter((i) => bytes[i] === 0x0a)
          .map((i) => i + 1)
          .concat(bytes.length),
      );
    }
  });

  it("reports an over-long line as null without keeping it, and goes on with the next lines", () => {
    const splitter = new LineSplitter({ maxLine: 8 });
    const out = [
      ...splitter.push(enc.encode('{"a":1}\n{"long":')),
      ...splitter.push(enc.encode('"xxxxxxxxxxxxxxxx"}\n{"b":2}\n{"toolong":1')),
      ...splitter.end(),
    ];
    expect(out.map((l) => (l === null ? null : new TextDecoder().decode(l)))).toEqual([
      '{"a":1}',
      null,
      '{"b":2}',
      null,
    ]);
    expect(splitter.lineNo).toBe(4);
  });
});

describe("GET /v1/datasets/{id}/recommendation", () => {
  async function recommendationFor(rows: unknown[]) {
    const ds = await uploadOk(jsonl(rows));
    const res = await call("GET", `/v1/datasets/${ds.id}/recommendation`);
    expectStatus(res, 200);
    return res.json;
  }

  it("recommends SFT for more than 1,000 labelled rows", async () => {
    const r = await recommendationFor(Array.from({ length: 1001 }, (_, i) => ({ prompt: `p${i}`, output: `o${i}` })));
    expect(r).toEqual({
      recommendation: "sft",
      reasons: ["1,001 rows of 1,001 carry a label, more than the 1,000 that SFT needs"],
      explanation: "You have 1,001 labelled examples, enough to teach the model the task by example (SFT).",
      stats: { rows: 1001, labelled: 1001, preferencePairs: 0, verifiable: 0, fields: { prompt: 1001, output: 1001 } },
    });
  });

  it("recommends SFT then DPO when the labelled rows are preference pairs", async () => {
    const r = await recommendationFor(
      Array.from({ length: 1200 }, (_, i) => ({ prompt: `p${i}`, chosen: "good", rejected: "bad" })),
    );
    expect(r.recommendation).toBe("sft+dpo");
    expect(r.reasons).toEqual([
      "1,200 rows of 1,200 carry a label, more than the 1,000 that SFT needs",
      "1,200 rows are preference pairs (chosen and rejected), enough for DPO",
    ]);
    expect(r.explanation).toContain("DPO");
    expect(r.stats).toMatchObject({ rows: 1200, labelled: 1200, preferencePairs: 1200 });
  });

  it("recommends RFT for a few hundred rows with verifiable targets", async () => {
    const r = await recommendationFor(
      Array.from({ length: 300 }, (_, i) =>
        i % 3 === 0 ? { prompt: `p${i}`, tests: "assert f()" } : { q: i, answer: i },
      ),
    );
    expect(r.recommendation).toBe("rft");
    expect(r.reasons).toEqual([
      "200 labelled rows, not more than the 1,000 that SFT needs",
      "300 rows of 300 carry a verifiable target (such as answer, tests, query or schema)",
    ]);
    expect(r.explanation).toContain("grader");
  });

  it("asks for more data when there are neither enough labels nor verifiable targets", async () => {
    const r = await recommendationFor(Array.from({ length: 40 }, (_, i) => ({ prompt: `p${i}`, response: "r" })));
    expect(r.recommendation).toBe("collect-more-data");
    expect(r.reasons).toEqual([
      "40 labelled rows; SFT needs more than 1,000",
      "no row carries a verifiable target (answer, tests, query, schema, …)",
    ]);
    expect(r.explanation).toContain("add 961 more labelled rows");
    expect(r.explanation).toContain("RFT");
  });
});

describe("dataset access", () => {
  it("answers unknown datasets with 404", async () => {
    for (const path of [
      "/v1/datasets/ds_missing",
      "/v1/datasets/ds_missing/rows",
      "/v1/datasets/ds_missing/recommendation",
    ]) {
      const res = await call("GET", path);
      expectError(res, 404, "NOT_FOUND");
    }
  });

  it("refuses requests without a key or with a wrong key, and accepts an API key", async () => {
    const ds = await uploadOk('{"a":1}\n');
    const routes: [string, string][] = [
      ["POST", "/v1/datasets"],
      ["GET", "/v1/datasets"],
      ["GET", `/v1/datasets/${ds.id}`],
      ["GET", `/v1/datasets/${ds.id}/rows`],
      ["GET", `/v1/datasets/${ds.id}/recommendation`],
    ];
    for (const [method, path] of routes) {
      const raw = method === "POST" ? '{"a":1}\n' : undefined;
      for (const key of [null, "ak_wrong", "wrong-admin-key"]) {
        expectError(await call(method, path, { key, raw, headers: NDJSON }), 401, "UNAUTHORIZED");
      }
    }
    const apiKey = await createApiKey("datasets");
    const res = await call("POST", "/v1/datasets", { key: apiKey.key, raw: '{"a":1}\n', headers: NDJSON });
    expectStatus(res, 201);
    expectStatus(await call("GET", `/v1/datasets/${res.json.id}/rows`, { key: apiKey.key }), 200);
  });

  it("has no route to change or delete a dataset", async () => {
    const ds = await uploadOk('{"a":1}\n');
    // The path exists (GET), so another method is 405 with the methods it does have, none of which writes.
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      const res = await call(method, `/v1/datasets/${ds.id}`, { body: {} });
      expectError(res, 405, "METHOD_NOT_ALLOWED");
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
    const got = await call("GET", `/v1/datasets/${ds.id}`);
    expect(got.json).toEqual(ds);
  });

  it("documents every dataset route in the OpenAPI document", async () => {
    const res = await call("GET", "/openapi.json", { key: null });
    expectStatus(res, 200);
    const paths = res.json.paths;
    expect(
      Object.keys(paths)
        .filter((p) => p.startsWith("/v1/datasets"))
        .sort(),
    ).toEqual([
      "/v1/datasets",
      "/v1/datasets/{id}",
      "/v1/datasets/{id}/lineage",
      "/v1/datasets/{id}/recommendation",
      "/v1/datasets/{id}/rows",
    ]);
    expect(Object.keys(paths["/v1/datasets"].post.requestBody.content)).toEqual([
      "application/x-ndjson",
      "application/jsonl",
    ]);
    expect(paths["/v1/datasets"].post.responses["201"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/Dataset",
    });
  });
});
