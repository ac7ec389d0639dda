import type { ArrayJobRequest, JobBackend, JobRequest, JobStatus, Submitted } from "../backend";

/**
 * The embedded backend: nothing is started here. Queued runs stay in the ledger and the local runner
 * (`npm run runner`) claims them over the API, so the job id is only a marker that the run was handed
 * to it: `local:<runId>`, or `local:<sweepId>` for a sweep.
 */
export class LocalBackend implements JobBackend {
  readonly name = "local" as const;

  async submit(job: JobRequest): Promise<Submitted> {
    return { jobId: `local:${job.runId}` };
  }

  async submitArray(job: ArrayJobRequest): Promise<Submitted> {
    return { jobId: `local:${job.sweepId}` };
  }

  /**
   * Nothing to do: the local runner is a separate process this Worker cannot signal. Stopping a run
   * sets its stop flag in the ledger, and the container sees `stop: true` on its next heartbeat or
   * metrics report and exits; that path works the same for every backend.
   */
  async terminate(_jobId: string, _reason: string): Promise<void> {}

  /** The runner reports state through the run's own endpoints, not through the backend: nothing to describe. */
  async describe(_jobIds: string[]): Promise<JobStatus[]> {
    return [];
  }
}
