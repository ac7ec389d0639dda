import { type JobBackend, PermanentDispatchError } from "../backend";
import type { Backend } from "../spec";
import { AwsBatchBackend, type AwsBatchBackendOptions } from "./aws-batch";
import { type AwsBatchEnv, loadAwsBatchConfig } from "./aws-batch-config";
import { LocalBackend } from "./local";

/**
 * The backend a run names in its spec. `aws-batch` reads its configuration from the Worker's
 * environment and throws PermanentDispatchError when it is incomplete.
 *
 * @example
 * const backend = createBackend(spec.backend, c.env);
 * const { jobId } = await backend.submit({ runId, experimentId, runToken, apiUrl: c.env.ASSAY_API_URL, resources: spec.resources, name: `rft-${runId}` });
 */
export function createBackend(name: Backend, env: AwsBatchEnv, options: AwsBatchBackendOptions = {}): JobBackend {
  switch (name) {
    case "aws-batch":
      return new AwsBatchBackend(loadAwsBatchConfig(env), options);
    case "local":
      return new LocalBackend();
    default: {
      // A spec read back from storage is not re-checked by the compiler.
      const unknown: never = name;
      throw new PermanentDispatchError(`unknown backend "${String(unknown)}"`);
    }
  }
}
