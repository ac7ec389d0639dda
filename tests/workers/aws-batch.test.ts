import { beforeEach, describe, expect, inject, it } from "vitest";
import { PermanentDispatchError } from "../../gpu-jobs/backend";
import { DispatchUnavailableError } from "../../gpu-jobs/backends/aws-batch";
import { createBackend } from "../../gpu-jobs/backends/index";
import { Resources } from "../../gpu-jobs/spec";

// The backend runs here, inside workerd, with the SDK's fetch handler; AWS Batch is the fake started by
// tests/global-setup.ts, reached over loopback and scripted through its /__fake/ control API.
const FAKE = inject("fakeBatchUrl");
const ACCESS_KEY = "AKIDWORKERDTEST0001";
const SECRET = "workerd-test-secret";

async function control(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${FAKE}/__fake/${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) expect.fail(`fake control ${method} ${path}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text);
}
const recorded = async () => (await control("GET", "requests")).requests as any[];
const outcomes = async () => (await recorded()).map((r) => `${r.operation} ${r.status}`);

function backend() {
  const sleeps: number[] = [];
  const b = createBackend(
    "aws-batch",
    {
      AWS_REGION: "us-east-1",
      AWS_BATCH_ENDPOINT: FAKE,
      AWS_BATCH_JOB_QUEUE: "assay-gpu",
      AWS_BATCH_JOB_DEFINITION: "assay-rft-trainer",
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET,
    },
    {
      retry: {
        baseDelayMs: 100,
        random: () => 0.5,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      },
    },
  );
  return { backend: b, sleeps };
}

const resources = Resources.parse({});
const jobId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const run = {
  runId: "run_01w",
  experimentId: "exp_01w",
  runToken: "rt_workerd",
  apiUrl: "https://assay.example.com",
  resources,
  name: "rft-run_01w",
};

beforeEach(async () => {
  await control("POST", "reset", {
    config: {
      region: "us-east-1",
      credentials: { [ACCESS_KEY]: SECRET },
      queues: ["assay-gpu"],
      definitions: ["assay-rft-trainer"],
    },
  });
});

describe("AWS Batch backend inside workerd", () => {
  it("sends a SubmitJob signed with the configured key that the fake verifies, and returns Batch's job id", async () => {
    const { backend: b } = backend();
    expect(await b.submit(run)).toEqual({ jobId: jobId(1) });
    const [req, ...rest] = await recorded();
    expect(rest).toEqual([]);
    expect(req.status).toBe(200);
    expect(req.path).toBe("/v1/submitjob");
    expect(req.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDWORKERDTEST0001\/\d{8}\/us-east-1\/batch\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
    expect(req.body).toEqual({
      jobName: "rft-run_01w",
      jobQueue: "assay-gpu",
      jobDefinition: "assay-rft-trainer",
      containerOverrides: {
        environment: [
          { name: "ASSAY_API_URL", value: "https://assay.example.com" },
          { name: "ASSAY_RUN_ID", value: "run_01w" },
          { name: "ASSAY_RUN_TOKEN", value: "rt_workerd" },
          { name: "ASSAY_EXPERIMENT_ID", value: "exp_01w" },
        ],
        resourceRequirements: [
          { type: "GPU", value: "1" },
          { type: "VCPU", value: "8" },
          { type: "MEMORY", value: "61440" },
        ],
      },
      retryStrategy: {
        attempts: 2,
        evaluateOnExit: [
          { onStatusReason: "Host EC2*", action: "RETRY" },
          { onReason: "*", action: "EXIT" },
        ],
      },
      timeout: { attemptDurationSeconds: 86_400 },
      tags: { "assay:run": "run_01w", "assay:experiment": "exp_01w" },
      propagateTags: true,
    });
  });

  it("submits a sweep as an array job with the runs listed in index order", async () => {
    const { backend: b } = backend();
    const sweep = {
      sweepId: "swp_01w",
      experimentId: "exp_01w",
      apiUrl: "https://assay.example.com",
      runs: [
        { runId: "run_a", runToken: "rt_a" },
        { runId: "run_b", runToken: "rt_b" },
      ],
      resources,
      name: "sweep-swp_01w",
    };
    expect(await b.submitArray(sweep)).toEqual({ jobId: jobId(1) });
    const [req] = await recorded();
    expect(req.body.arrayProperties).toEqual({ size: 2 });
    expect(req.body.containerOverrides.environment).toEqual([
      { name: "ASSAY_API_URL", value: "https://assay.example.com" },
      { name: "ASSAY_EXPERIMENT_ID", value: "exp_01w" },
      { name: "ASSAY_SWEEP_ID", value: "swp_01w" },
      { name: "ASSAY_RUN_ID", value: "run_a,run_b" },
      { name: "ASSAY_RUN_TOKEN", value: "rt_a,rt_b" },
    ]);
    expect(await b.describe([`${jobId(1)}:1`])).toEqual([{ jobId: `${jobId(1)}:1`, state: "SUBMITTED" }]);
  });

  it("retries throttling twice and then succeeds", async () => {
    const { backend: b, sleeps } = backend();
    await control("POST", "script", { operation: "SubmitJob", failures: [{ kind: "throttle" }, { kind: "throttle" }] });
    expect(await b.submit(run)).toEqual({ jobId: jobId(1) });
    expect(await outcomes()).toEqual(["SubmitJob 429", "SubmitJob 429", "SubmitJob 200"]);
    expect(sleeps).toEqual([50, 100]);
  });

  it("retries a 500 after checking that no job was created, then succeeds", async () => {
    const { backend: b } = backend();
    await control("POST", "script", { operation: "SubmitJob", failures: [{ kind: "server" }] });
    expect(await b.submit(run)).toEqual({ jobId: jobId(1) });
    expect(await outcomes()).toEqual(["SubmitJob 500", "ListJobs 200", "SubmitJob 200"]);
  });

  it("surfaces AWS's message for a ClientException as a PermanentDispatchError without retrying", async () => {
    const { backend: b, sleeps } = backend();
    await control("POST", "script", {
      operation: "SubmitJob",
      failures: [{ kind: "client", message: "Job definition assay-rft-trainer is INACTIVE." }],
    });
    let err: unknown;
    try {
      await b.submit(run);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PermanentDispatchError);
    expect((err as Error).message).toBe(
      "AWS Batch SubmitJob: ClientException: Job definition assay-rft-trainer is INACTIVE.",
    );
    expect(await outcomes()).toEqual(["SubmitJob 400"]);
    expect(sleeps).toEqual([]);
  });

  it("gives up after 5 throttled attempts as DispatchUnavailableError", async () => {
    const { backend: b } = backend();
    await control("POST", "script", { operation: "*", failures: Array(6).fill({ kind: "throttle" }) });
    let err: unknown;
    try {
      await b.describe([jobId(1)]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DispatchUnavailableError);
    expect((err as DispatchUnavailableError).attempts).toBe(5);
    expect(await outcomes()).toEqual(Array(5).fill("DescribeJobs 429"));
  });

  it("describes state changes and terminates a job", async () => {
    const { backend: b } = backend();
    await b.submit(run);
    await b.submit({ ...run, runId: "run_02w", name: "rft-run_02w" });
    await control("POST", `jobs/${jobId(1)}`, {
      status: "FAILED",
      statusReason: "Essential container in task exited",
      exitCode: 1,
    });
    await control("POST", `jobs/${jobId(2)}/lose`);
    expect(await b.describe([jobId(1), jobId(2)])).toEqual([
      { jobId: jobId(1), state: "FAILED", reason: "Essential container in task exited (exit code 1)" },
    ]);

    await b.submit({ ...run, runId: "run_03w", name: "rft-run_03w" });
    await control("POST", `jobs/${jobId(3)}`, { status: "RUNNING" });
    await b.terminate(jobId(3), "stopped by user");
    expect(await b.describe([jobId(3)])).toEqual([{ jobId: jobId(3), state: "FAILED", reason: "stopped by user" }]);
    const terminate = (await recorded()).filter((r) => r.operation === "TerminateJob");
    expect(terminate.map((r) => [r.status, r.body])).toEqual([[200, { jobId: jobId(3), reason: "stopped by user" }]]);
  });
});
