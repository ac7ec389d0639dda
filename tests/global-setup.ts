import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { FakeBatch } from "./fakes/fake-batch";
import { FakeJudge } from "./fakes/fake-judge";
import { WebhookReceiver } from "./fakes/webhook-receiver";

/** The shared conformance corpora (JSON Schema suite, HumanEval, Spider), one level above the repo. */
export const CORPORA_DIR = resolve(__dirname, "../../shared/corpora");

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of a loopback server over ../shared/corpora ("" when the folder is absent). */
    corporaUrl: string;
    /** Base URL of the local fake AWS Batch (tests/fakes/fake-batch.ts), driven over its /__fake/ control API. */
    fakeBatchUrl: string;
    /** The fake AWS Batch that the Worker under test dispatches to (its AWS_BATCH_ENDPOINT). */
    platformBatchUrl: string;
    /** Base URL of a real loopback webhook receiver (tests/fakes/webhook-receiver.ts) for outgoing events. */
    webhookReceiverUrl: string;
  }
}

function contentType(file: string): string {
  if (file.endsWith(".json")) return "application/json";
  if (file.endsWith(".jsonl") || file.endsWith(".sql")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

/**
 * Tests inside workerd cannot read the filesystem, so the corpora are served to them over loopback HTTP.
 * The server binds 127.0.0.1 only and serves files under CORPORA_DIR, nothing else.
 */
export default async function setup(project: TestProject) {
  const fakeBatch = await FakeBatch.start();
  project.provide("fakeBatchUrl", fakeBatch.url);
  // A second fake, for the Worker's own env (AWS_BATCH_ENDPOINT in vitest.config.ts reads this variable
  // when the pool starts, after this setup): platform tests dispatch through it without racing the
  // backend tests, which reset theirs.
  const platformBatch = await FakeBatch.start();
  process.env.ASSAY_TEST_BATCH_URL = platformBatch.url;
  project.provide("platformBatchUrl", platformBatch.url);
  // The LLM judge the Worker's score_model / label_model graders call (JUDGE_BASE_URL in vitest.config.ts),
  // answering as the prompt directs (tests/fakes/fake-judge.ts).
  const judge = await FakeJudge.start();
  process.env.ASSAY_TEST_JUDGE_URL = judge.url;
  // A loopback receiver for outgoing event deliveries (tests/fakes/webhook-receiver.ts).
  const receiver = await WebhookReceiver.start();
  project.provide("webhookReceiverUrl", receiver.url);
  const closeFakes = async () => {
    await fakeBatch.close();
    await platformBatch.close();
    await judge.close();
    await receiver.close();
  };
  if (!existsSync(CORPORA_DIR)) {
    project.provide("corporaUrl", "");
    return closeFakes;
  }
  const server: Server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(
      /^(\.\.[/\\])+/,
      "",
    );
    const file = join(CORPORA_DIR, rel);
    if (!file.startsWith(CORPORA_DIR) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-length": statSync(file).size, "content-type": contentType(file) });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  project.provide("corporaUrl", `http://127.0.0.1:${port}`);
  return async () => {
    await closeFakes();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
}
