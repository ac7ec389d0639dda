import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { BatchClient, ListJobsCommand, type ListJobsCommandInput } from "@aws-sdk/client-batch";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ArrayJobRequest, type JobRequest, PermanentDispatchError } from "../../gpu-jobs/backend";
import {
  type AwsBatchBackend,
  DispatchUnavailableError,
  type RetryPolicy,
  sanitizeJobName,
} from "../../gpu-jobs/backends/aws-batch";
import { type AwsBatchEnv, loadAwsBatchConfig } from "../../gpu-jobs/backends/aws-batch-config";
import { createBackend } from "../../gpu-jobs/backends/index";
import { Resources } from "../../gpu-jobs/spec";
import { FakeBatch } from "../fakes/fake-batch";

// AWS Batch itself is the one thing replaced: the real SDK sends real, signed HTTP to a local fake.
const ACCESS_KEY = "AKIDNODETEST0000001";
const SECRET = "node-test-secret";
let fake: FakeBatch;

beforeAll(async () => {
  fake = await FakeBatch.start();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset({
    region: "eu-west-1",
    credentials: { [ACCESS_KEY]: SECRET },
    queues: ["gpu-q"],
    definitions: ["trainer"],
  });
});

function env(overrides: Partial<AwsBatchEnv> = {}): AwsBatchEnv {
  return {
    AWS_REGION: "eu-west-1",
    AWS_BATCH_ENDPOINT: fake.url,
    AWS_BATCH_JOB_QUEUE: "gpu-q",
    AWS_BATCH_JOB_DEFINITION: "trainer",
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET,
    ...overrides,
  };
}

/** A backend whose retry policy sleeps instantly and records each wait; random() is fixed at 0.5. */
function backend(envOverrides: Partial<AwsBatchEnv> = {}, retry: Partial<RetryPolicy> = {}) {
  const sleeps: number[] = [];
  const b = createBackend("aws-batch", env(envOverrides), {
    retry: {
      baseDelayMs: 100,
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...retry,
    },
  }) as AwsBatchBackend;
  return { backend: b, sleeps };
}

const resources = Resources.parse({ gpus: 4, vcpus: 32, memoryMib: 249_856, timeoutSeconds: 7_200, attempts: 3 });
const runJob: JobRequest = {
  runId: "run_01abc",
  experimentId: "exp_01xyz",
  runToken: "rt_secret-token",
  apiUrl: "https://assay.example.com",
  resources,
  name: "rft-run_01abc",
};
const sweep = (n: number, token = (i: number) => `rt_tok${i}`): ArrayJobRequest => ({
  sweepId: "swp_01s",
  experimentId: "exp_01xyz",
  apiUrl: "https://assay.example.com",
  runs: Array.from({ length: n }, (_, i) => ({ runId: `run_${i}`, runToken: token(i) })),
  resources,
  name: "sweep swp_01s",
});

const RETRY_STRATEGY = {
  attempts: 3,
  evaluateOnExit: [
    { onStatusReason: "Host EC2*", action: "RETRY" },
    { onReason: "*", action: "EXIT" },
  ],
};
const RESOURCE_REQUIREMENTS = [
  { type: "GPU", value: "4" },
  { type: "VCPU", value: "32" },
  { type: "MEMORY", value: "249856" },
];
const jobId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const outcomes = () => fake.requests.map((r) => `${r.operation} ${r.status}`);

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the call to fail");
}

describe("AWS Batch backend: submitting", () => {
  it("submits one SubmitJob with the configured queue and definition, the container variables, GPU resources, retry strategy, timeout and tags", async () => {
    const { backend: b } = backend();
    expect(await b.submit(runJob)).toEqual({ jobId: jobId(1) });

    expect(outcomes()).toEqual(["SubmitJob 200"]);
    const req = fake.requests[0]!;
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/v1/submitjob");
    expect(req.body).toEqual({
      jobName: "rft-run_01abc",
      jobQueue: "gpu-q",
      jobDefinition: "trainer",
      containerOverrides: {
        environment: [
          { name: "ASSAY_API_URL", value: "https://assay.example.com" },
          { name: "ASSAY_RUN_ID", value: "run_01abc" },
          { name: "ASSAY_RUN_TOKEN", value: "rt_secret-token" },
          { name: "ASSAY_EXPERIMENT_ID", value: "exp_01xyz" },
        ],
        resourceRequirements: RESOURCE_REQUIREMENTS,
      },
      retryStrategy: RETRY_STRATEGY,
      timeout: { attemptDurationSeconds: 7_200 },
      tags: { "assay:run": "run_01abc", "assay:experiment": "exp_01xyz" },
      propagateTags: true,
    });
  });

  it("signs every request with SigV4 under the configured access key and region, which the fake verifies", async () => {
    const { backend: b } = backend();
    await b.submit(runJob);
    await b.describe([jobId(1)]);
    await b.terminate(jobId(1), "stopped by user");
    expect(outcomes()).toEqual(["SubmitJob 200", "DescribeJobs 200", "TerminateJob 200"]);
    for (const req of fake.requests) {
      expect(req.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDNODETEST0000001\/\d{8}\/eu-west-1\/batch\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
      );
      // The SDK's own retries are off: each call is one attempt of ours.
      expect(req.headers["amz-sdk-request"]).toBe("attempt=1; max=1");
    }
  });

  it("fails permanently, without retrying, when AWS rejects the signature of a wrong secret", async () => {
    const { backend: b, sleeps } = backend({ AWS_SECRET_ACCESS_KEY: "not-the-secret" });
    const err = await rejection(b.submit(runJob));
    expect(err).toBeInstanceOf(PermanentDispatchError);
    expect(err.message).toBe(
      "AWS Batch SubmitJob: InvalidSignatureException: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
    );
    expect(outcomes()).toEqual(["SubmitJob 403"]);
    expect(sleeps).toEqual([]);
  });

  it("turns a run name into a valid Batch job name", () => {
    expect(sanitizeJobName("rft-run_01abc")).toBe("rft-run_01abc");
    expect(sanitizeJobName("sweep: lr=1e-5 / bs 16")).toBe("sweep-lr-1e-5-bs-16");
    expect(sanitizeJobName("__-run")).toBe("run");
    expect(sanitizeJobName("∆∆∆")).toBe("assay-job");
    expect(sanitizeJobName("x".repeat(300))).toBe("x".repeat(128));
  });

  it("submits a sanitised name that Batch accepts", async () => {
    const { backend: b } = backend();
    await b.submit({ ...runJob, name: "-my run: qwen/0.5B ✓" });
    expect(fake.requests[0]!.body.jobName).toBe("my-run-qwen-0-5B-");
    expect(fake.job(jobId(1))!.jobName).toBe("my-run-qwen-0-5B-");
  });

  it("submits a sweep as one array job whose environment lists run ids and tokens in index order", async () => {
    const { backend: b } = backend();
    expect(await b.submitArray(sweep(3))).toEqual({ jobId: jobId(1) });
    expect(outcomes()).toEqual(["SubmitJob 200"]);
    expect(fake.requests[0]!.body).toEqual({
      jobName: "sweep-swp_01s",
      jobQueue: "gpu-q",
      jobDefinition: "trainer",
      arrayProperties: { size: 3 },
      containerOverrides: {
        environment: [
          { name: "ASSAY_API_URL", value: "https://assay.example.com" },
          { name: "ASSAY_EXPERIMENT_ID", value: "exp_01xyz" },
          { name: "ASSAY_SWEEP_ID", value: "swp_01s" },
          { name: "ASSAY_RUN_ID", value: "run_0,run_1,run_2" },
          { name: "ASSAY_RUN_TOKEN", value: "rt_tok0,rt_tok1,rt_tok2" },
        ],
        resourceRequirements: RESOURCE_REQUIREMENTS,
      },
      retryStrategy: RETRY_STRATEGY,
      timeout: { attemptDurationSeconds: 7_200 },
      tags: { "assay:sweep": "swp_01s", "assay:experiment": "exp_01xyz" },
      propagateTags: true,
    });
    // Children are addressed as <jobId>:<index>.
    expect(await b.describe([`${jobId(1)}:0`, `${jobId(1)}:2`, jobId(1)])).toEqual([
      { jobId: `${jobId(1)}:0`, state: "SUBMITTED" },
      { jobId: `${jobId(1)}:2`, state: "SUBMITTED" },
      { jobId: jobId(1), state: "SUBMITTED" },
    ]);
  });

  it("submits a one-run sweep as a plain job with one-entry lists, since Batch arrays start at 2", async () => {
    const { backend: b } = backend();
    await b.submitArray(sweep(1));
    const body = fake.requests[0]!.body;
    expect(body.arrayProperties).toBeUndefined();
    expect(body.containerOverrides.environment).toEqual([
      { name: "ASSAY_API_URL", value: "https://assay.example.com" },
      { name: "ASSAY_EXPERIMENT_ID", value: "exp_01xyz" },
      { name: "ASSAY_SWEEP_ID", value: "swp_01s" },
      { name: "ASSAY_RUN_ID", value: "run_0" },
      { name: "ASSAY_RUN_TOKEN", value: "rt_tok0" },
    ]);
  });

  it("accepts a sweep of 100 runs with real-sized ids and tokens", async () => {
    const { backend: b } = backend();
    const runs = sweep(100, (i) => `rt_${String(i).padStart(43, "x")}`);
    runs.runs = runs.runs.map((r, i) => ({ ...r, runId: `run_${String(i).padStart(26, "0")}` }));
    expect(await b.submitArray(runs)).toEqual({ jobId: jobId(1) });
    expect(fake.job(jobId(1))!.arraySize).toBe(100);
  });

  it("refuses sweeps Batch would not take, without calling AWS", async () => {
    const { backend: b } = backend();
    const cases: [ArrayJobRequest, string][] = [
      [sweep(101), "a sweep dispatches at most 100 runs as one array job; got 101"],
      [sweep(0), "a sweep needs at least one run"],
      [
        sweep(2, (i) => (i === 1 ? "rt_a,b" : "rt_ok")),
        "run 1 of the sweep has an empty value or a comma in its id or token",
      ],
    ];
    for (const [job, message] of cases) {
      const err = await rejection(b.submitArray(job));
      expect(err).toBeInstanceOf(PermanentDispatchError);
      expect(err.message).toBe(message);
    }
    const big = await rejection(b.submitArray(sweep(100, (i) => `rt_${i}_${"t".repeat(300)}`)));
    expect(big).toBeInstanceOf(PermanentDispatchError);
    expect(big.message).toMatch(/^the SubmitJob request is \d+ bytes, over AWS Batch's 30720-byte payload quota$/);
    expect(fake.requests).toEqual([]);
  });
});

describe("AWS Batch backend: retries", () => {
  it.each(["TooManyRequestsException", "ThrottlingException"] as const)(
    "retries %s twice with exponential backoff and then succeeds on the third attempt",
    async (code) => {
      const { backend: b, sleeps } = backend();
      fake.script("SubmitJob", [
        { kind: "throttle", code },
        { kind: "throttle", code },
      ]);
      expect(await b.submit(runJob)).toEqual({ jobId: jobId(1) });
      // Throttled requests were never carried out, so there is nothing to look for before retrying.
      expect(outcomes()).toEqual(["SubmitJob 429", "SubmitJob 429", "SubmitJob 200"]);
      expect(sleeps).toEqual([50, 100]);
      expect(fake.requests[2]!.body).toEqual(fake.requests[0]!.body);
    },
  );

  it("retries a 500, first checking by name that the failed attempt created no job", async () => {
    const { backend: b, sleeps } = backend();
    fake.script("SubmitJob", [{ kind: "server" }]);
    expect(await b.submit(runJob)).toEqual({ jobId: jobId(1) });
    expect(outcomes()).toEqual(["SubmitJob 500", "ListJobs 200", "SubmitJob 200"]);
    expect(fake.requests[1]!.body).toEqual({
      jobQueue: "gpu-q",
      filters: [{ name: "JOB_NAME", values: ["rft-run_01abc"] }],
      maxResults: 100,
    });
    expect(sleeps).toEqual([50]);
  });

  it("does not submit twice when a 500 hid a job that Batch did create", async () => {
    const { backend: b } = backend();
    fake.script("SubmitJob", [{ kind: "server", apply: true }]);
    expect(await b.submit(runJob)).toEqual({ jobId: jobId(1) });
    expect(outcomes()).toEqual(["SubmitJob 500", "ListJobs 200"]);
    expect(fake.job(jobId(2))).toBeUndefined();
  });

  it("surfaces AWS's message for a ClientException as a PermanentDispatchError, without retrying", async () => {
    const { backend: b, sleeps } = backend();
    fake.script("SubmitJob", [{ kind: "client", message: "Job queue gpu-q is DISABLED." }]);
    const err = await rejection(b.submit(runJob));
    expect(err).toBeInstanceOf(PermanentDispatchError);
    expect(err.message).toBe("AWS Batch SubmitJob: ClientException: Job queue gpu-q is DISABLED.");
    expect(outcomes()).toEqual(["SubmitJob 400"]);
    expect(sleeps).toEqual([]);
  });

  it("reports Batch's own validation failure, such as an unknown job queue, as permanent", async () => {
    const { backend: b } = backend({ AWS_BATCH_JOB_QUEUE: "no-such-queue" });
    const err = await rejection(b.submit(runJob));
    expect(err).toBeInstanceOf(PermanentDispatchError);
    expect(err.message).toBe("AWS Batch SubmitJob: ClientException: JobQueue no-such-queue not found.");
    expect(outcomes()).toEqual(["SubmitJob 400"]);
  });

  it("gives up after 5 attempts of throttling with DispatchUnavailableError, backing off each time", async () => {
    const { backend: b, sleeps } = backend();
    fake.script(
      "*",
      Array.from({ length: 10 }, () => ({ kind: "throttle" as const })),
    );
    const err = await rejection(b.submit(runJob));
    expect(err).toBeInstanceOf(DispatchUnavailableError);
    expect(err).not.toBeInstanceOf(PermanentDispatchError);
    expect(err.message).toBe(
      "AWS Batch SubmitJob failed after 5 attempts: TooManyRequestsException: Too Many Requests",
    );
    expect((err as DispatchUnavailableError).attempts).toBe(5);
    expect(outcomes()).toEqual(Array(5).fill("SubmitJob 429"));
    expect(sleeps).toEqual([50, 100, 200, 400]);
  });

  it("caps each wait at maxDelayMs and stops when the next wait would pass the total time budget", async () => {
    let clock = 0;
    const { backend: b, sleeps } = backend(
      {},
      {
        maxAttempts: 10,
        baseDelayMs: 400,
        maxDelayMs: 1_000,
        totalBudgetMs: 2_500,
        random: () => 1,
        now: () => clock,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock += ms;
        },
      },
    );
    fake.script(
      "DescribeJobs",
      Array.from({ length: 10 }, () => ({ kind: "throttle" as const })),
    );
    const err = await rejection(b.describe([jobId(1)]));
    expect(err).toBeInstanceOf(DispatchUnavailableError);
    // Waits 400, 800, then 1000 (capped) would reach 2200; the next 1000 would pass 2500.
    expect(sleeps).toEqual([400, 800, 1_000]);
    expect((err as DispatchUnavailableError).attempts).toBe(4);
    expect(outcomes()).toEqual(Array(4).fill("DescribeJobs 429"));
  });

  it("retries a connection failure and then reports AWS as unavailable, not as a permanent failure", async () => {
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, "127.0.0.1", ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((ok) => closed.close(() => ok()));
    const { backend: b, sleeps } = backend({ AWS_BATCH_ENDPOINT: `http://127.0.0.1:${port}` }, { maxAttempts: 3 });
    const err = await rejection(b.terminate(jobId(1), "stop"));
    expect(err).toBeInstanceOf(DispatchUnavailableError);
    expect(err.message).toMatch(/^AWS Batch TerminateJob failed after 3 attempts: .*ECONNREFUSED/);
    expect(sleeps).toEqual([50, 100]);
  });
});

describe("AWS Batch backend: describe and terminate", () => {
  it("maps Batch's status and reasons, and leaves out jobs Batch no longer knows", async () => {
    const { backend: b } = backend();
    for (let i = 0; i < 4; i++) await b.submit({ ...runJob, runId: `run_${i}`, name: `rft-run_${i}` });
    fake.setJob(jobId(1), {
      status: "FAILED",
      statusReason: "Essential container in task exited",
      exitCode: 137,
      containerReason: "OutOfMemoryError: Container killed due to memory usage",
    });
    fake.setJob(jobId(2), { status: "SUCCEEDED", statusReason: "Essential container in task exited", exitCode: 0 });
    fake.setJob(jobId(3), { status: "RUNNING" });
    fake.lose(jobId(4));
    expect(await b.describe([jobId(3), jobId(1), jobId(4), jobId(2), "ffffffff-0000-4000-8000-000000000000"])).toEqual([
      { jobId: jobId(3), state: "RUNNING" },
      {
        jobId: jobId(1),
        state: "FAILED",
        reason:
          "Essential container in task exited (OutOfMemoryError: Container killed due to memory usage, exit code 137)",
      },
      { jobId: jobId(2), state: "SUCCEEDED", reason: "Essential container in task exited (exit code 0)" },
    ]);
  });

  it("reports a Spot reclaim's status reason as Batch gives it", async () => {
    const { backend: b } = backend();
    await b.submit(runJob);
    fake.setJob(jobId(1), { status: "RUNNABLE", statusReason: "Host EC2 (instance i-0abc) terminated." });
    expect(await b.describe([jobId(1)])).toEqual([
      { jobId: jobId(1), state: "RUNNABLE", reason: "Host EC2 (instance i-0abc) terminated." },
    ]);
  });

  it("describes in chunks of 100 ids, in the order asked, retrying a throttled chunk", async () => {
    const { backend: b } = backend();
    await b.submitArray(sweep(100));
    const children = Array.from({ length: 100 }, (_, i) => `${jobId(1)}:${99 - i}`);
    fake.script("DescribeJobs", [{ kind: "throttle" }]);
    const ids = [jobId(1), ...children, "ffffffff-0000-4000-8000-000000000000", jobId(1)];
    const statuses = await b.describe(ids);
    expect(statuses).toEqual([jobId(1), ...children].map((id) => ({ jobId: id, state: "SUBMITTED" })));
    const describeCalls = fake.requestsFor("DescribeJobs");
    expect(describeCalls.map((r) => [r.status, r.body.jobs.length])).toEqual([
      [429, 100],
      [200, 100],
      [200, 2],
    ]);
  });

  it("makes no call to describe an empty list", async () => {
    const { backend: b } = backend();
    expect(await b.describe([])).toEqual([]);
    expect(fake.requests).toEqual([]);
  });

  it("terminates a job with the reason, which describe then reports", async () => {
    const { backend: b } = backend();
    await b.submit(runJob);
    await b.terminate(jobId(1), "stopped: reward hacking alarm");
    expect(fake.requestsFor("TerminateJob").map((r) => r.body)).toEqual([
      { jobId: jobId(1), reason: "stopped: reward hacking alarm" },
    ]);
    expect(await b.describe([jobId(1)])).toEqual([
      { jobId: jobId(1), state: "FAILED", reason: "stopped: reward hacking alarm" },
    ]);
  });

  it("terminating an array job stops its children, and the parent follows them", async () => {
    const { backend: b } = backend();
    await b.submitArray(sweep(3));
    fake.setJob(`${jobId(1)}:0`, { status: "SUCCEEDED", exitCode: 0 });
    fake.setJob(`${jobId(1)}:1`, { status: "RUNNING" });
    expect(await b.describe([jobId(1)])).toEqual([{ jobId: jobId(1), state: "PENDING" }]);
    await b.terminate(jobId(1), "sweep cancelled");
    expect(await b.describe([jobId(1), `${jobId(1)}:0`, `${jobId(1)}:1`, `${jobId(1)}:2`])).toEqual([
      { jobId: jobId(1), state: "FAILED", reason: "sweep cancelled" },
      { jobId: `${jobId(1)}:0`, state: "SUCCEEDED", reason: "succeeded (exit code 0)" },
      { jobId: `${jobId(1)}:1`, state: "FAILED", reason: "sweep cancelled" },
      { jobId: `${jobId(1)}:2`, state: "FAILED", reason: "sweep cancelled" },
    ]);
  });

  it("surfaces AWS's message when terminating a job Batch does not know", async () => {
    const { backend: b } = backend();
    const err = await rejection(b.terminate("ffffffff-0000-4000-8000-000000000000", "stop"));
    expect(err).toBeInstanceOf(PermanentDispatchError);
    expect(err.message).toBe(
      "AWS Batch TerminateJob: ClientException: Job ffffffff-0000-4000-8000-000000000000 not found",
    );
  });
});

describe("AWS Batch configuration and the backend factory", () => {
  it("reads the configuration from the environment; an empty endpoint means real AWS", () => {
    expect(loadAwsBatchConfig(env({ AWS_BATCH_ENDPOINT: "" }))).toEqual({
      region: "eu-west-1",
      endpoint: undefined,
      jobQueue: "gpu-q",
      jobDefinition: "trainer",
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
    });
    expect(loadAwsBatchConfig(env({ AWS_BATCH_ENDPOINT: "http://127.0.0.1:9000/" })).endpoint).toBe(
      "http://127.0.0.1:9000",
    );
  });

  it("names every configuration problem at once as a PermanentDispatchError", () => {
    let err: unknown;
    try {
      createBackend("aws-batch", {
        AWS_REGION: "Frankfurt",
        AWS_BATCH_ENDPOINT: "ftp://x",
        AWS_BATCH_JOB_QUEUE: " ",
        AWS_BATCH_JOB_DEFINITION: "trainer",
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PermanentDispatchError);
    expect((err as Error).message).toBe(
      'AWS Batch backend is misconfigured: AWS_BATCH_JOB_QUEUE is not set; AWS_ACCESS_KEY_ID is not set; AWS_SECRET_ACCESS_KEY is not set; AWS_REGION "Frankfurt" is not a region name such as us-east-1; AWS_BATCH_ENDPOINT "ftp://x" must be http or https',
    );
  });

  it("refuses an unknown backend name read back from storage as a PermanentDispatchError", () => {
    expect(() => createBackend("gpu-cloud" as never, env())).toThrow(
      new PermanentDispatchError('unknown backend "gpu-cloud"'),
    );
  });

  it("gives the local backend synthetic job ids and nothing to terminate or describe", async () => {
    const local = createBackend("local", {});
    expect(local.name).toBe("local");
    expect(await local.submit(runJob)).toEqual({ jobId: "local:run_01abc" });
    expect(await local.submitArray(sweep(2))).toEqual({ jobId: "local:swp_01s" });
    await expect(local.terminate("local:run_01abc", "stop")).resolves.toBeUndefined();
    expect(await local.describe(["local:run_01abc"])).toEqual([]);
    expect(fake.requests).toEqual([]);
  });
});

describe("the fake AWS Batch", () => {
  it("lists a queue's jobs by status (RUNNING by default), by name, and an array's children, as Batch does", async () => {
    const { backend: b } = backend();
    await b.submit(runJob);
    await b.submitArray(sweep(2));
    fake.setJob(jobId(1), { status: "RUNNING" });
    const client = new BatchClient({
      region: "eu-west-1",
      endpoint: fake.url,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
      maxAttempts: 1,
    });
    const ids = async (input: ListJobsCommandInput) =>
      ((await client.send(new ListJobsCommand(input))).jobSummaryList ?? []).map((j) => [j.jobId, j.status]);
    expect(await ids({ jobQueue: "gpu-q" })).toEqual([[jobId(1), "RUNNING"]]);
    expect(await ids({ jobQueue: "gpu-q", jobStatus: "SUBMITTED" })).toEqual([[jobId(2), "SUBMITTED"]]);
    expect(await ids({ jobQueue: "gpu-q", filters: [{ name: "JOB_NAME", values: ["SWEEP-*"] }] })).toEqual([
      [jobId(2), "SUBMITTED"],
    ]);
    expect(await ids({ arrayJobId: jobId(2) })).toEqual([
      [`${jobId(2)}:0`, "SUBMITTED"],
      [`${jobId(2)}:1`, "SUBMITTED"],
    ]);
    const twoFilters = await rejection(
      client.send(
        new ListJobsCommand({
          jobQueue: "gpu-q",
          filters: [
            { name: "JOB_NAME", values: ["x"] },
            { name: "JOB_DEFINITION", values: ["trainer"] },
          ],
        }),
      ),
    );
    expect([twoFilters.name, twoFilters.message]).toEqual(["ClientException", "Only one filter can be used at a time"]);
  });

  it("refuses a request without a signature, as AWS does", async () => {
    const res = await fetch(`${fake.url}/v1/describejobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jobs: ["x"] }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("x-amzn-errortype")).toBe("MissingAuthenticationTokenException");
    expect(await res.json()).toEqual({
      __type: "MissingAuthenticationTokenException",
      message: "Missing Authentication Token",
    });
  });
});
