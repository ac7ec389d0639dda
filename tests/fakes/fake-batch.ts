import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for AWS Batch: a Node HTTP server on 127.0.0.1 that speaks Batch's REST-JSON API as
 * @aws-sdk/client-batch sends it (POST /v1/submitjob, /v1/terminatejob, /v1/describejobs, /v1/listjobs).
 *
 * - It verifies SigV4 itself (node:crypto, not the SDK's signer) against the key pairs it is given and
 *   answers 403 like AWS for a missing, unknown or wrong signature.
 * - It checks SubmitJob the way Batch does where we rely on it (queue and job definition exist, job name,
 *   array size 2–10,000, retry attempts 1–10, at most 5 evaluateOnExit rules, timeout ≥ 60 s, no
 *   AWS_BATCH* variables, the 30 KiB payload quota) and answers ClientException (400) otherwise.
 * - It records every API request (operation, path, headers, parsed body, status it answered).
 * - It can be scripted: throttling (429 TooManyRequestsException), 500 ServerException (optionally after
 *   carrying the request out, as when AWS's answer is lost), ClientException with a message; job state
 *   changes (FAILED with a statusReason, a container exit code); "lost" jobs that DescribeJobs no longer returns.
 * - Array jobs have children `<jobId>:<index>`; the parent's status follows its children.
 *
 * Deterministic: job ids count up from 1 after each reset; nothing changes state unless told to.
 * In-process tests drive it through its methods; tests in workerd use the control API under /__fake/.
 */

export type Operation = "SubmitJob" | "TerminateJob" | "DescribeJobs" | "ListJobs";
export type FakeJobStatus = "SUBMITTED" | "PENDING" | "RUNNABLE" | "STARTING" | "RUNNING" | "SUCCEEDED" | "FAILED";

export type ScriptedFailure =
  /** 429 as Batch throttles: `x-amzn-ErrorType: TooManyRequestsException`, `{"message":"Too Many Requests"}`. */
  | { kind: "throttle"; code?: "TooManyRequestsException" | "ThrottlingException" }
  /** 500 ServerException. With `apply`, the request is carried out first (the answer was lost). */
  | { kind: "server"; message?: string; apply?: boolean }
  /** 400 ClientException with AWS's message. */
  | { kind: "client"; message: string };

export interface RecordedRequest {
  operation: Operation | "Unknown";
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
  /** The HTTP status the fake answered. */
  status: number;
}

export interface FakeBatchConfig {
  region: string;
  /** Access key id → secret access key: the only signers accepted. */
  credentials: Record<string, string>;
  /** Job queue names that exist. */
  queues: string[];
  /** Job definition names that exist. */
  definitions: string[];
}

export interface JobPatch {
  status: FakeJobStatus;
  statusReason?: string;
  exitCode?: number;
  /** The container's own stop reason (e.g. "OutOfMemoryError: Container killed due to memory usage"). */
  containerReason?: string;
}

export interface FakeJob {
  jobId: string;
  jobArn: string;
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  status: FakeJobStatus;
  statusReason?: string;
  createdAt: number;
  startedAt?: number;
  stoppedAt?: number;
  exitCode?: number;
  containerReason?: string;
  /** The SubmitJob body that created it (the parent's, for a child). */
  request: any;
  arraySize?: number;
  arrayIndex?: number;
  parentId?: string;
  lost: boolean;
}

export const DEFAULT_FAKE_BATCH_CONFIG: FakeBatchConfig = {
  region: "us-east-1",
  credentials: { AKIDFAKEBATCH000001: "fake-batch-secret" },
  queues: ["assay-gpu"],
  definitions: ["assay-rft-trainer"],
};

const ACCOUNT = "123456789012";
const PATHS: Record<string, Operation> = {
  "/v1/submitjob": "SubmitJob",
  "/v1/terminatejob": "TerminateJob",
  "/v1/describejobs": "DescribeJobs",
  "/v1/listjobs": "ListJobs",
};
const TERMINAL = new Set<FakeJobStatus>(["SUCCEEDED", "FAILED"]);
const STATUSES = new Set<FakeJobStatus>([
  "SUBMITTED",
  "PENDING",
  "RUNNABLE",
  "STARTING",
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
]);
const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const MAX_PAYLOAD = 30 * 1024;

class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
const clientError = (message: string) => new AwsError(400, "ClientException", message);

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

export class FakeBatch {
  readonly requests: RecordedRequest[] = [];
  private config: FakeBatchConfig;
  private jobs = new Map<string, FakeJob>();
  private order: string[] = [];
  private scripts = new Map<Operation | "*", ScriptedFailure[]>();
  private nextId = 1;
  private server?: Server;
  url = "";

  constructor(config: Partial<FakeBatchConfig> = {}) {
    this.config = { ...DEFAULT_FAKE_BATCH_CONFIG, ...config };
  }

  /** Starts a fake on 127.0.0.1 with a random port. */
  static async start(config: Partial<FakeBatchConfig> = {}): Promise<FakeBatch> {
    const fake = new FakeBatch(config);
    const server = createServer((req, res) => {
      fake.handle(req, res).catch((err) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`fake-batch crashed: ${String(err)}`);
      });
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    fake.server = server;
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  close(): Promise<void> {
    return new Promise((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  /** Forgets jobs, requests and scripts; `config` replaces the given parts of the configuration. */
  reset(config: Partial<FakeBatchConfig> = {}): void {
    this.config = { ...DEFAULT_FAKE_BATCH_CONFIG, ...config };
    this.requests.length = 0;
    this.jobs.clear();
    this.order = [];
    this.scripts.clear();
    this.nextId = 1;
  }

  /** Queues failures for an operation ("*": any operation), answered in order before normal service resumes. */
  script(operation: Operation | "*", failures: ScriptedFailure[]): void {
    this.scripts.set(operation, [...(this.scripts.get(operation) ?? []), ...failures]);
  }

  requestsFor(operation: Operation): RecordedRequest[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  job(jobId: string): FakeJob | undefined {
    return this.jobs.get(jobId);
  }

  /** Moves a job to a state, as Batch would report it. An array parent's status follows its children. */
  setJob(jobId: string, patch: JobPatch): FakeJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`fake-batch: no job ${jobId}`);
    if (!STATUSES.has(patch.status)) throw new Error(`fake-batch: bad status ${patch.status}`);
    const now = Date.now();
    job.status = patch.status;
    job.statusReason = patch.statusReason;
    job.exitCode = patch.exitCode;
    job.containerReason = patch.containerReason;
    if (patch.status === "RUNNING" || TERMINAL.has(patch.status)) job.startedAt ??= now;
    if (TERMINAL.has(patch.status)) job.stoppedAt = now;
    if (job.parentId) this.rollUp(job.parentId);
    return job;
  }

  /** Makes Batch forget a job (as after its retention period): DescribeJobs and ListJobs omit it. */
  lose(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`fake-batch: no job ${jobId}`);
    job.lost = true;
  }

  private rollUp(parentId: string): void {
    const parent = this.jobs.get(parentId)!;
    const children = this.children(parentId);
    if (children.every((c) => c.status === "SUCCEEDED")) {
      parent.status = "SUCCEEDED";
      parent.stoppedAt = Date.now();
    } else if (children.every((c) => TERMINAL.has(c.status))) {
      parent.status = "FAILED";
      parent.statusReason = "Array Child Job failed";
      parent.stoppedAt = Date.now();
    } else if (children.some((c) => c.status !== "SUBMITTED")) {
      parent.status = "PENDING";
    }
  }

  private children(parentId: string): FakeJob[] {
    const size = this.jobs.get(parentId)?.arraySize ?? 0;
    return Array.from({ length: size }, (_, i) => this.jobs.get(`${parentId}:${i}`)!);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://fake");
    if (url.pathname.startsWith("/__fake/")) return this.control(req.method ?? "GET", url.pathname, raw, res);

    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(",") : (v ?? "");
    const record: RecordedRequest = {
      operation: PATHS[url.pathname] ?? "Unknown",
      method: req.method ?? "",
      path: url.pathname + url.search,
      headers,
      body: undefined,
      status: 0,
    };
    this.requests.push(record);
    const answer = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, {
        "content-type": "application/json",
        "x-amzn-requestid": `fake-${this.requests.length}`,
        ...extra,
      });
      res.end(JSON.stringify(body));
    };
    const fail = (err: AwsError) =>
      answer(
        err.status,
        err.code === "TooManyRequestsException" ? { message: err.message } : { __type: err.code, message: err.message },
        { "x-amzn-errortype": err.code },
      );

    try {
      try {
        record.body = raw.length ? JSON.parse(raw.toString("utf8")) : {};
      } catch {
        throw new AwsError(400, "SerializationException", "Malformed JSON body");
      }
      this.authenticate(req.method ?? "", url, headers, raw);
      if (record.operation === "Unknown" || req.method !== "POST") {
        throw new AwsError(404, "UnknownOperationException", `No operation at ${req.method} ${url.pathname}`);
      }
      const op = record.operation;
      const failure = this.nextFailure(op);
      if (failure?.kind === "throttle") {
        const code = failure.code ?? "TooManyRequestsException";
        throw new AwsError(429, code, code === "TooManyRequestsException" ? "Too Many Requests" : "Rate exceeded");
      }
      if (failure?.kind === "client") throw clientError(failure.message);
      if (failure?.kind === "server" && !failure.apply) {
        throw new AwsError(500, "ServerException", failure.message ?? "Internal Server Error");
      }
      if (op === "SubmitJob" && raw.length > MAX_PAYLOAD) {
        throw clientError(`Job payload size ${raw.length} exceeds the maximum of ${MAX_PAYLOAD} bytes`);
      }
      const result = this.operate(op, record.body);
      if (failure?.kind === "server")
        throw new AwsError(500, "ServerException", failure.message ?? "Internal Server Error");
      answer(200, result);
    } catch (err) {
      if (err instanceof AwsError) return fail(err);
      throw err;
    }
  }

  private nextFailure(op: Operation): ScriptedFailure | undefined {
    for (const key of [op, "*"] as const) {
      const queue = this.scripts.get(key);
      if (queue && queue.length > 0) return queue.shift();
    }
    return undefined;
  }

  /** SigV4, recomputed from the request as received (header-based signing, as the SDK does). */
  private authenticate(method: string, url: URL, headers: Record<string, string>, body: Buffer): void {
    const auth = headers.authorization;
    if (!auth) throw new AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token");
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) throw new AwsError(403, "IncompleteSignatureException", "Authorization header is not a SigV4 signature");
    const [, keyId, day, region, service, signedHeaders, signature] = m as unknown as string[];
    const secret = this.config.credentials[keyId!];
    if (secret === undefined) {
      throw new AwsError(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
    }
    const amzDate = headers["x-amz-date"] ?? "";
    if (service !== "batch" || region !== this.config.region || !amzDate.startsWith(day!)) {
      throw new AwsError(
        403,
        "InvalidSignatureException",
        `Credential should be scoped to ${this.config.region}/batch`,
      );
    }
    const names = signedHeaders!.split(";");
    if (!names.includes("host")) throw new AwsError(403, "InvalidSignatureException", "host must be a signed header");
    const canonicalHeaders = names.map((h) => `${h}:${(headers[h] ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
    const query = [...url.searchParams.entries()]
      .map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)])
      .sort(([a, x], [b, y]) => (a! < b! ? -1 : a! > b! ? 1 : x! < y! ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const canonicalRequest = [
      method,
      url.pathname,
      query,
      canonicalHeaders,
      signedHeaders,
      headers["x-amz-content-sha256"] ?? sha256(body),
    ].join("\n");
    const scope = `${day}/${region}/${service}/aws4_request`;
    const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
    let key = hmac(`AWS4${secret}`, day!);
    for (const part of [region!, service!, "aws4_request"]) key = hmac(key, part);
    const expected = createHmac("sha256", key).update(stringToSign).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature!, "hex"))) {
      throw new AwsError(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
      );
    }
  }

  private operate(op: Operation, body: any): unknown {
    switch (op) {
      case "SubmitJob":
        return this.submitJob(body);
      case "TerminateJob":
        return this.terminateJob(body);
      case "DescribeJobs":
        return this.describeJobs(body);
      case "ListJobs":
        return this.listJobs(body);
    }
  }

  private submitJob(body: any): unknown {
    const { jobName, jobQueue, jobDefinition } = body;
    if (typeof jobName !== "string" || !JOB_NAME.test(jobName)) {
      throw clientError(
        "Job name should be up to 128 characters long, start with a letter or number and contain only letters, numbers, hyphens and underscores",
      );
    }
    if (!this.config.queues.includes(jobQueue)) throw clientError(`JobQueue ${jobQueue} not found.`);
    if (!this.config.definitions.includes(jobDefinition))
      throw clientError(`Job definition ${jobDefinition} not found.`);
    const size = body.arrayProperties?.size;
    if (size !== undefined && (!Number.isInteger(size) || size < 2 || size > 10_000)) {
      throw clientError("Array size must be between 2 and 10000");
    }
    const retry = body.retryStrategy;
    if (retry?.attempts !== undefined && (retry.attempts < 1 || retry.attempts > 10)) {
      throw clientError("Retry attempts must be between 1 and 10");
    }
    if ((retry?.evaluateOnExit?.length ?? 0) > 5) throw clientError("At most 5 evaluateOnExit conditions are allowed");
    for (const rule of retry?.evaluateOnExit ?? []) {
      if (!/^(retry|exit)$/i.test(rule.action)) throw clientError(`Invalid evaluateOnExit action ${rule.action}`);
    }
    if (body.timeout?.attemptDurationSeconds !== undefined && body.timeout.attemptDurationSeconds < 60) {
      throw clientError("attemptDurationSeconds must be at least 60");
    }
    for (const e of body.containerOverrides?.environment ?? []) {
      if (String(e.name).startsWith("AWS_BATCH")) throw clientError(`Environment variable ${e.name} is reserved`);
    }
    for (const r of body.containerOverrides?.resourceRequirements ?? []) {
      if (
        !["GPU", "VCPU", "MEMORY"].includes(r.type) ||
        typeof r.value !== "string" ||
        !/^\d+(\.\d+)?$/.test(r.value)
      ) {
        throw clientError(`Invalid resourceRequirement ${JSON.stringify(r)}`);
      }
    }

    const n = this.nextId++;
    const jobId = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
    const job = this.newJob(jobId, body);
    if (size !== undefined) {
      job.arraySize = size;
      for (let i = 0; i < size; i++) {
        const child = this.newJob(`${jobId}:${i}`, body);
        child.arrayIndex = i;
        child.parentId = jobId;
      }
    }
    return { jobArn: job.jobArn, jobName: job.jobName, jobId };
  }

  private newJob(jobId: string, body: any): FakeJob {
    const job: FakeJob = {
      jobId,
      jobArn: `arn:aws:batch:${this.config.region}:${ACCOUNT}:job/${jobId}`,
      jobName: body.jobName,
      jobQueue: body.jobQueue,
      jobDefinition: body.jobDefinition,
      status: "SUBMITTED",
      createdAt: Date.now(),
      request: body,
      lost: false,
    };
    this.jobs.set(jobId, job);
    this.order.push(jobId);
    return job;
  }

  private terminateJob(body: any): unknown {
    const { jobId, reason } = body;
    if (typeof reason !== "string" || !reason) throw clientError("reason is required");
    const job = this.jobs.get(jobId);
    if (!job || job.lost) throw clientError(`Job ${jobId} not found`);
    const stop = (j: FakeJob) => {
      if (TERMINAL.has(j.status)) return;
      j.status = "FAILED";
      j.statusReason = reason;
      j.stoppedAt = Date.now();
    };
    if (job.arraySize) for (const child of this.children(jobId)) stop(child);
    stop(job);
    if (job.parentId) this.rollUp(job.parentId);
    return {};
  }

  private describeJobs(body: any): unknown {
    const ids: unknown = body.jobs;
    if (!Array.isArray(ids) || ids.length === 0) throw clientError("jobs must be a non-empty list");
    if (ids.length > 100)
      throw clientError("Error executing request, Exception : Maximum number of jobs supported is 100 .");
    const jobs = ids.flatMap((id) => {
      const job = this.jobs.get(String(id));
      return job && !job.lost ? [this.detail(job)] : [];
    });
    return { jobs };
  }

  private detail(job: FakeJob): unknown {
    const req = job.request;
    return {
      jobArn: job.jobArn,
      jobName: job.jobName,
      jobId: job.jobId,
      jobQueue: `arn:aws:batch:${this.config.region}:${ACCOUNT}:job-queue/${job.jobQueue}`,
      status: job.status,
      ...(job.statusReason !== undefined ? { statusReason: job.statusReason } : {}),
      createdAt: job.createdAt,
      ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
      ...(job.stoppedAt !== undefined ? { stoppedAt: job.stoppedAt } : {}),
      jobDefinition: `arn:aws:batch:${this.config.region}:${ACCOUNT}:job-definition/${job.jobDefinition}:1`,
      ...(req.retryStrategy ? { retryStrategy: req.retryStrategy } : {}),
      ...(req.timeout ? { timeout: req.timeout } : {}),
      ...(req.tags ? { tags: req.tags } : {}),
      propagateTags: req.propagateTags ?? false,
      container: {
        environment: req.containerOverrides?.environment ?? [],
        resourceRequirements: req.containerOverrides?.resourceRequirements ?? [],
        ...(job.exitCode !== undefined ? { exitCode: job.exitCode } : {}),
        ...(job.containerReason !== undefined ? { reason: job.containerReason } : {}),
      },
      ...(job.arraySize !== undefined
        ? { arrayProperties: { size: job.arraySize, statusSummary: this.statusSummary(job.jobId) } }
        : {}),
      ...(job.arrayIndex !== undefined ? { arrayProperties: { index: job.arrayIndex } } : {}),
    };
  }

  private statusSummary(parentId: string): Record<string, number> {
    const summary: Record<string, number> = {};
    for (const s of STATUSES) summary[s] = 0;
    for (const c of this.children(parentId)) summary[c.status] = (summary[c.status] ?? 0) + 1;
    return summary;
  }

  /** ListJobs: by queue and status (RUNNING when none), by one filter (any status), or an array's children. */
  private listJobs(body: any): unknown {
    const filters: { name: string; values: string[] }[] = body.filters ?? [];
    if (filters.length > 1) throw clientError("Only one filter can be used at a time");
    let candidates: FakeJob[];
    if (body.arrayJobId) {
      candidates = this.children(body.arrayJobId).filter(Boolean);
      if (body.jobStatus) candidates = candidates.filter((j) => j.status === body.jobStatus);
    } else {
      if (!body.jobQueue) throw clientError("jobQueue, arrayJobId or multiNodeJobId is required");
      candidates = this.order
        .map((id) => this.jobs.get(id)!)
        .filter(
          (j) => !j.parentId && (j.jobQueue === body.jobQueue || body.jobQueue.endsWith(`:job-queue/${j.jobQueue}`)),
        );
      const filter = filters[0];
      if (filter) {
        const value = filter.values?.[0] ?? "";
        const match = (s: string, caseless: boolean) => {
          const [a, b] = caseless ? [s.toLowerCase(), value.toLowerCase()] : [s, value];
          return b.endsWith("*") ? a.startsWith(b.slice(0, -1)) : a === b;
        };
        if (filter.name === "JOB_NAME") candidates = candidates.filter((j) => match(j.jobName, true));
        else if (filter.name === "JOB_DEFINITION") candidates = candidates.filter((j) => match(j.jobDefinition, false));
        else if (filter.name === "AFTER_CREATED_AT") candidates = candidates.filter((j) => j.createdAt > Number(value));
        else if (filter.name === "BEFORE_CREATED_AT")
          candidates = candidates.filter((j) => j.createdAt < Number(value));
        else throw clientError(`Unsupported filter ${filter.name}`);
      } else {
        const status = body.jobStatus ?? "RUNNING";
        candidates = candidates.filter((j) => j.status === status);
      }
      candidates = candidates.reverse(); // most recent first
    }
    candidates = candidates.filter((j) => !j.lost);
    const max = Math.min(body.maxResults ?? 100, filters.length > 0 ? 100 : 1000);
    const start = body.nextToken ? Number(body.nextToken) : 0;
    const page = candidates.slice(start, start + max);
    return {
      jobSummaryList: page.map((j) => ({
        jobArn: j.jobArn,
        jobId: j.jobId,
        jobName: j.jobName,
        createdAt: j.createdAt,
        status: j.status,
        ...(j.statusReason !== undefined ? { statusReason: j.statusReason } : {}),
        ...(j.startedAt !== undefined ? { startedAt: j.startedAt } : {}),
        ...(j.stoppedAt !== undefined ? { stoppedAt: j.stoppedAt } : {}),
        ...(j.arraySize !== undefined ? { arrayProperties: { size: j.arraySize } } : {}),
        ...(j.arrayIndex !== undefined ? { arrayProperties: { index: j.arrayIndex } } : {}),
        jobDefinition: `arn:aws:batch:${this.config.region}:${ACCOUNT}:job-definition/${j.jobDefinition}:1`,
      })),
      ...(start + max < candidates.length ? { nextToken: String(start + max) } : {}),
    };
  }

  /**
   * Control API for tests that cannot hold the object (workerd):
   * POST /__fake/reset {config?} · GET /__fake/requests · POST /__fake/script {operation, failures}
   * GET /__fake/jobs/{id} · POST /__fake/jobs/{id} {status, statusReason?, exitCode?, containerReason?}
   * POST /__fake/jobs/{id}/lose
   */
  private control(method: string, path: string, raw: Buffer, res: ServerResponse): void {
    const [status, body] = this.controlResult(method, path, raw);
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  private controlResult(method: string, path: string, raw: Buffer): [number, unknown] {
    let body: any;
    try {
      body = raw.length ? JSON.parse(raw.toString("utf8")) : {};
    } catch {
      return [400, { error: "bad JSON" }];
    }
    try {
      if (method === "POST" && path === "/__fake/reset") {
        this.reset(body.config ?? {});
        return [200, { ok: true }];
      }
      if (method === "GET" && path === "/__fake/requests") return [200, { requests: this.requests }];
      if (method === "POST" && path === "/__fake/script") {
        this.script(body.operation, body.failures);
        return [200, { ok: true }];
      }
      const m = /^\/__fake\/jobs\/([^/]+)(\/lose)?$/.exec(path);
      if (m) {
        const id = decodeURIComponent(m[1]!);
        if (method === "POST" && m[2]) {
          this.lose(id);
          return [200, { ok: true }];
        }
        if (method === "POST") return [200, { job: this.setJob(id, body) }];
        if (method === "GET") {
          const job = this.job(id);
          return job ? [200, { job }] : [404, { error: `no job ${id}` }];
        }
      }
      return [404, { error: `no control route ${method} ${path}` }];
    } catch (err) {
      return [400, { error: String(err instanceof Error ? err.message : err) }];
    }
  }
}
