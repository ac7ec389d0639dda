import type { Backend, Resources } from "./spec";

/** One container to start: the three variables the container protocol promises, and its resources. */
export interface JobRequest {
  runId: string;
  experimentId: string;
  runToken: string;
  apiUrl: string;
  resources: Resources;
  /** Becomes the job name (AWS: letters, digits, - and _; 128 at most). */
  name: string;
}

/** A sweep's runs as one array job: child `i` (AWS_BATCH_JOB_ARRAY_INDEX) runs `runs[i]`. */
export interface ArrayJobRequest {
  sweepId: string;
  experimentId: string;
  apiUrl: string;
  runs: { runId: string; runToken: string }[];
  resources: Resources;
  name: string;
}

export interface Submitted {
  jobId: string;
}

export type JobState = "SUBMITTED" | "PENDING" | "RUNNABLE" | "STARTING" | "RUNNING" | "SUCCEEDED" | "FAILED";

export interface JobStatus {
  jobId: string;
  state: JobState;
  /** Why the job stopped, as the backend reports it. */
  reason?: string;
}

/** A dispatch failure the backend will not recover from by retrying (bad config, access denied). */
export class PermanentDispatchError extends Error {}

/**
 * Where training containers run. `aws-batch` submits GPU jobs; `local` leaves queued runs for the
 * runner (`npm run runner`), which claims them over the API. Both start the same container code with
 * ASSAY_API_URL, ASSAY_RUN_ID and ASSAY_RUN_TOKEN.
 */
export interface JobBackend {
  readonly name: Backend;
  submit(job: JobRequest): Promise<Submitted>;
  submitArray(job: ArrayJobRequest): Promise<Submitted>;
  terminate(jobId: string, reason: string): Promise<void>;
  describe(jobIds: string[]): Promise<JobStatus[]>;
}
