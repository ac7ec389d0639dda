import {
  BatchClient,
  DescribeJobsCommand,
  type JobDetail,
  ListJobsCommand,
  SubmitJobCommand,
  type SubmitJobCommandInput,
  TerminateJobCommand,
} from "@aws-sdk/client-batch";
import {
  type ArrayJobRequest,
  type JobBackend,
  type JobRequest,
  type JobState,
  type JobStatus,
  PermanentDispatchError,
  type Submitted,
} from "../backend";
import type { Resources } from "../spec";
import type { AwsBatchConfig } from "./aws-batch-config";

/**
 * How calls to AWS Batch are retried. Throttling (429), server errors (5xx) and network failures are
 * retried with exponential backoff and full jitter: attempt n waits `random() * min(maxDelayMs,
 * baseDelayMs * 2^(n-1))`. It stops after `maxAttempts` calls or when the next wait would pass
 * `totalBudgetMs` since the first call. `sleep`, `random` and `now` are injectable so that tests run
 * the real policy without waiting.
 */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  totalBudgetMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  now: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  // A queue consumer or a request handler waits on dispatch: past this, give up and let it retry later.
  totalBudgetMs: 25_000,
  sleep: (ms) => new Promise((ok) => setTimeout(ok, ms)),
  random: Math.random,
  now: Date.now,
};

export interface AwsBatchBackendOptions {
  retry?: Partial<RetryPolicy>;
  /** Per-HTTP-request timeout; a timed-out call counts as a transient failure. */
  requestTimeoutMs?: number;
}

/** AWS Batch kept failing transiently (throttling, 5xx, network) until the retry policy gave up. */
export class DispatchUnavailableError extends Error {
  constructor(
    message: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DispatchUnavailableError";
  }
}

/** Documented Batch quotas (Batch user guide, "service quotas"). */
export const MAX_SUBMIT_PAYLOAD_BYTES = 30 * 1024;
/** Our own cap on a sweep: one array job carries every run's token in its environment. */
export const MAX_ARRAY_RUNS = 100;
const DESCRIBE_CHUNK = 100;
const JOB_NAME_MAX = 128;

/**
 * Retry on the EC2 host going away (Spot reclaim, instance retirement: Batch reports
 * "Host EC2 (instance i-…) terminated."), exit on anything else: a training failure will not
 * fix itself and a GPU hour is expensive. Batch evaluates these in order and retries when none match,
 * hence the final catch-all.
 */
const EVALUATE_ON_EXIT = [
  { onStatusReason: "Host EC2*", action: "RETRY" as const },
  { onReason: "*", action: "EXIT" as const },
];

const JOB_STATES: ReadonlySet<string> = new Set<JobState>([
  "SUBMITTED",
  "PENDING",
  "RUNNABLE",
  "STARTING",
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
]);

/** Batch job names: letters, digits, `-` and `_`, alphanumeric first, 128 at most. */
export function sanitizeJobName(name: string): string {
  let out = name.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  if (!out) out = "assay-job";
  return out.slice(0, JOB_NAME_MAX);
}

function resourceRequirements(r: Resources) {
  return [
    { type: "GPU" as const, value: String(r.gpus) },
    { type: "VCPU" as const, value: String(r.vcpus) },
    { type: "MEMORY" as const, value: String(r.memoryMib) },
  ];
}

type Verdict = "retry" | "permanent";

interface AwsLikeError {
  name?: string;
  message?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
}

const THROTTLING = new Set([
  "TooManyRequestsException",
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "RequestLimitExceeded",
  "SlowDown",
]);

/**
 * Throttling and 5xx are transient; any other answer from AWS with a 4xx status (ClientException,
 * access denied, a bad signature) is permanent. An error without an HTTP status never reached AWS or
 * lost its answer (DNS, reset, timeout): transient.
 */
function classify(err: unknown): Verdict {
  const e = (err ?? {}) as AwsLikeError;
  const status = e.$metadata?.httpStatusCode;
  if ((e.name && THROTTLING.has(e.name)) || status === 429 || status === 408) return "retry";
  if (status !== undefined && status >= 500) return "retry";
  if (status !== undefined && status >= 400) return "permanent";
  if (e.$fault === "client") return "permanent";
  return "retry";
}

/** Whether the failed call may have been carried out by AWS even though we got no success answer. */
function mayHaveApplied(err: unknown): boolean {
  const e = (err ?? {}) as AwsLikeError;
  const status = e.$metadata?.httpStatusCode;
  if (status === 429 || (e.name && THROTTLING.has(e.name))) return false;
  return status === undefined || status >= 500;
}

function describeError(err: unknown): string {
  const e = (err ?? {}) as AwsLikeError;
  if (err instanceof Error || (e.name && e.message)) return `${e.name}: ${e.message}`;
  return String(err);
}

/**
 * The AWS Batch backend: one SubmitJob per run (or one array job per sweep) against the queue and
 * job definition in configuration.
 *
 * Retries: the SDK is built with `maxAttempts: 1` and this class retries by itself. The SDK's
 * standard strategy shares a retry-token bucket across the client, sleeps on real timers with its own
 * jitter and decides per error code internally, so its behaviour cannot be pinned down in a test
 * without waiting on the clock; ours is a small, explicit policy (RetryPolicy) that tests drive with
 * an injected sleep and random source against a real HTTP fake.
 */
export class AwsBatchBackend implements JobBackend {
  readonly name = "aws-batch" as const;
  private readonly client: BatchClient;
  private readonly retry: RetryPolicy;

  constructor(
    private readonly config: AwsBatchConfig,
    options: AwsBatchBackendOptions = {},
  ) {
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.client = new BatchClient({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      credentials: config.credentials,
      maxAttempts: 1,
      requestHandler: { requestTimeout: options.requestTimeoutMs ?? 15_000 },
    });
  }

  /**
   * Submits one container for one run. The container gets ASSAY_API_URL, ASSAY_RUN_ID,
   * ASSAY_RUN_TOKEN and ASSAY_EXPERIMENT_ID.
   *
   * @example
   * const { jobId } = await backend.submit({ runId, experimentId, runToken, apiUrl, resources, name: `rft-${runId}` });
   */
  async submit(job: JobRequest): Promise<Submitted> {
    for (const [key, v] of [
      ["runId", job.runId],
      ["runToken", job.runToken],
      ["apiUrl", job.apiUrl],
    ] as const) {
      if (!v) throw new PermanentDispatchError(`cannot submit a job without ${key}`);
    }
    return this.submitJob({
      jobName: sanitizeJobName(job.name),
      jobQueue: this.config.jobQueue,
      jobDefinition: this.config.jobDefinition,
      containerOverrides: {
        environment: [
          { name: "ASSAY_API_URL", value: job.apiUrl },
          { name: "ASSAY_RUN_ID", value: job.runId },
          { name: "ASSAY_RUN_TOKEN", value: job.runToken },
          { name: "ASSAY_EXPERIMENT_ID", value: job.experimentId },
        ],
        resourceRequirements: resourceRequirements(job.resources),
      },
      retryStrategy: { attempts: job.resources.attempts, evaluateOnExit: EVALUATE_ON_EXIT },
      timeout: { attemptDurationSeconds: job.resources.timeoutSeconds },
      tags: { "assay:run": job.runId, "assay:experiment": job.experimentId },
      propagateTags: true,
    });
  }

  /**
   * Submits a sweep as one array job whose child `i` trains `runs[i]`.
   *
   * Container protocol for sweeps: the environment carries
   * - `ASSAY_API_URL`, `ASSAY_EXPERIMENT_ID`, `ASSAY_SWEEP_ID`;
   * - `ASSAY_RUN_ID` and `ASSAY_RUN_TOKEN` as comma-separated lists in array-index order.
   *
   * The container takes entry `Number(process.env.AWS_BATCH_JOB_ARRAY_INDEX ?? 0)` of both lists.
   * Batch only accepts arrays of 2 to 10,000 children, so a sweep of one run is submitted as a plain
   * job with one-entry lists and no AWS_BATCH_JOB_ARRAY_INDEX: index 0, which the same rule gives.
   * A plain `submit` also satisfies the rule, so a container can always read its run this way.
   * Children are addressed as `<jobId>:<index>` in `describe` and `terminate`.
   *
   * Refused with PermanentDispatchError: no runs, more than MAX_ARRAY_RUNS (100) runs, an id or token
   * containing a comma, or a request over Batch's 30 KiB SubmitJob payload quota.
   *
   * @example
   * // ASSAY_RUN_ID=run_a,run_b,run_c   ASSAY_RUN_TOKEN=rt_a,rt_b,rt_c   AWS_BATCH_JOB_ARRAY_INDEX=1
   * const i = Number(process.env.AWS_BATCH_JOB_ARRAY_INDEX ?? 0);
   * const runId = process.env.ASSAY_RUN_ID!.split(",")[i];       // "run_b"
   * const runToken = process.env.ASSAY_RUN_TOKEN!.split(",")[i]; // "rt_b"
   */
  async submitArray(job: ArrayJobRequest): Promise<Submitted> {
    if (job.runs.length === 0) throw new PermanentDispatchError("a sweep needs at least one run");
    if (job.runs.length > MAX_ARRAY_RUNS) {
      throw new PermanentDispatchError(
        `a sweep dispatches at most ${MAX_ARRAY_RUNS} runs as one array job; got ${job.runs.length}`,
      );
    }
    if (!job.apiUrl || !job.sweepId)
      throw new PermanentDispatchError("cannot submit a sweep without apiUrl and sweepId");
    for (const [i, run] of job.runs.entries()) {
      if (!run.runId || !run.runToken || run.runId.includes(",") || run.runToken.includes(",")) {
        throw new PermanentDispatchError(`run ${i} of the sweep has an empty value or a comma in its id or token`);
      }
    }
    const input: SubmitJobCommandInput = {
      jobName: sanitizeJobName(job.name),
      jobQueue: this.config.jobQueue,
      jobDefinition: this.config.jobDefinition,
      ...(job.runs.length > 1 ? { arrayProperties: { size: job.runs.length } } : {}),
      containerOverrides: {
        environment: [
          { name: "ASSAY_API_URL", value: job.apiUrl },
          { name: "ASSAY_EXPERIMENT_ID", value: job.experimentId },
          { name: "ASSAY_SWEEP_ID", value: job.sweepId },
          { name: "ASSAY_RUN_ID", value: job.runs.map((r) => r.runId).join(",") },
          { name: "ASSAY_RUN_TOKEN", value: job.runs.map((r) => r.runToken).join(",") },
        ],
        resourceRequirements: resourceRequirements(job.resources),
      },
      retryStrategy: { attempts: job.resources.attempts, evaluateOnExit: EVALUATE_ON_EXIT },
      timeout: { attemptDurationSeconds: job.resources.timeoutSeconds },
      tags: { "assay:sweep": job.sweepId, "assay:experiment": job.experimentId },
      propagateTags: true,
    };
    return this.submitJob(input);
  }

  /** TerminateJob: Batch stops the job (and an array job's children) and reports `reason` as its statusReason. */
  async terminate(jobId: string, reason: string): Promise<void> {
    await this.call("TerminateJob", () =>
      this.client.send(new TerminateJobCommand({ jobId, reason: reason.trim() || "terminated by Assay" })),
    );
  }

  /**
   * DescribeJobs in chunks of 100 (Batch's maximum), in the order asked. Jobs Batch does not know
   * (never existed, or expired after Batch's retention) are absent from the result: the caller decides
   * what a missing job means. `reason` is Batch's statusReason, with the container's reason and exit
   * code when it has stopped.
   */
  async describe(jobIds: string[]): Promise<JobStatus[]> {
    const ids = [...new Set(jobIds)];
    const found = new Map<string, JobStatus>();
    for (let i = 0; i < ids.length; i += DESCRIBE_CHUNK) {
      const chunk = ids.slice(i, i + DESCRIBE_CHUNK);
      const out = await this.call("DescribeJobs", () => this.client.send(new DescribeJobsCommand({ jobs: chunk })));
      for (const detail of out.jobs ?? []) {
        if (detail.jobId) found.set(detail.jobId, toJobStatus(detail));
      }
    }
    return ids.flatMap((id) => {
      const s = found.get(id);
      return s ? [s] : [];
    });
  }

  private async submitJob(input: SubmitJobCommandInput): Promise<Submitted> {
    const bytes = new TextEncoder().encode(JSON.stringify(input)).byteLength;
    if (bytes > MAX_SUBMIT_PAYLOAD_BYTES) {
      throw new PermanentDispatchError(
        `the SubmitJob request is ${bytes} bytes, over AWS Batch's ${MAX_SUBMIT_PAYLOAD_BYTES}-byte payload quota`,
      );
    }
    const startedAt = Date.now();
    const out = await this.call(
      "SubmitJob",
      async () => ({ jobId: (await this.client.send(new SubmitJobCommand(input))).jobId }),
      // SubmitJob has no idempotency token: a 5xx or a lost answer may hide a job Batch did create.
      // Before submitting again, look for a job of this name created since the first attempt. ListJobs
      // is eventually consistent, so this narrows the duplicate window rather than closing it.
      async () => {
        const found = await this.findSubmitted(input.jobName!, startedAt);
        return found ? { jobId: found as string | undefined } : undefined;
      },
    );
    if (!out.jobId) throw new PermanentDispatchError("AWS Batch SubmitJob answered without a jobId");
    return { jobId: out.jobId };
  }

  private async findSubmitted(jobName: string, since: number): Promise<string | undefined> {
    const out = await this.client.send(
      new ListJobsCommand({
        jobQueue: this.config.jobQueue,
        filters: [{ name: "JOB_NAME", values: [jobName] }],
        maxResults: 100,
      }),
    );
    // A minute of slack for clock skew between the Worker and AWS.
    const match = (out.jobSummaryList ?? []).find(
      (j) => j.jobName?.toLowerCase() === jobName.toLowerCase() && (j.createdAt ?? 0) >= since - 60_000,
    );
    return match?.jobId;
  }

  /**
   * Runs one AWS call under the retry policy. `recover`, tried before a retry after a failure that
   * may have been applied, can return the call's result found by other means.
   */
  private async call<T>(operation: string, send: () => Promise<T>, recover?: () => Promise<T | undefined>): Promise<T> {
    const p = this.retry;
    const start = p.now();
    let attempt = 0;
    let maybeApplied = false;
    for (;;) {
      attempt++;
      if (maybeApplied && recover) {
        try {
          const recovered = await recover();
          if (recovered !== undefined) return recovered;
        } catch {
          // The lookup failing is no reason to give up on the call itself.
        }
      }
      try {
        return await send();
      } catch (err) {
        if (classify(err) === "permanent") {
          throw new PermanentDispatchError(`AWS Batch ${operation}: ${describeError(err)}`, { cause: err });
        }
        maybeApplied = maybeApplied || mayHaveApplied(err);
        const delay = p.random() * Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (attempt - 1));
        if (attempt >= p.maxAttempts || p.now() - start + delay > p.totalBudgetMs) {
          throw new DispatchUnavailableError(
            `AWS Batch ${operation} failed after ${attempt} attempt${attempt === 1 ? "" : "s"}: ${describeError(err)}`,
            attempt,
            { cause: err },
          );
        }
        await p.sleep(delay);
      }
    }
  }
}

function toJobStatus(d: JobDetail): JobStatus {
  const state = d.status && JOB_STATES.has(d.status) ? (d.status as JobState) : "PENDING";
  const details: string[] = [];
  if (state === "SUCCEEDED" || state === "FAILED") {
    if (d.container?.reason) details.push(d.container.reason);
    if (d.container?.exitCode !== undefined) details.push(`exit code ${d.container.exitCode}`);
  }
  let reason = d.statusReason;
  if (details.length > 0) reason = `${reason ?? state.toLowerCase()} (${details.join(", ")})`;
  return reason ? { jobId: d.jobId!, state, reason } : { jobId: d.jobId!, state };
}
