import { PermanentDispatchError } from "../backend";

/** The Worker variables the AWS Batch backend reads (wrangler.toml [vars] and secrets). */
export interface AwsBatchEnv {
  AWS_REGION?: string;
  /** Empty means real AWS; tests and local runs point it at a fake (`http://127.0.0.1:PORT`). */
  AWS_BATCH_ENDPOINT?: string;
  AWS_BATCH_JOB_QUEUE?: string;
  AWS_BATCH_JOB_DEFINITION?: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
}

export interface AwsBatchConfig {
  region: string;
  /** Undefined: the SDK's regional AWS endpoint. */
  endpoint?: string;
  jobQueue: string;
  jobDefinition: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

const REGION = /^[a-z]{2}(-[a-z0-9]+)+-\d+$/;

/**
 * Reads and checks the backend's configuration. A missing or malformed value is a
 * PermanentDispatchError naming every problem at once: retrying cannot fix configuration.
 */
export function loadAwsBatchConfig(env: AwsBatchEnv): AwsBatchConfig {
  const problems: string[] = [];
  const value = (key: keyof AwsBatchEnv): string => {
    const v = env[key]?.trim() ?? "";
    if (!v) problems.push(`${key} is not set`);
    return v;
  };
  const region = value("AWS_REGION");
  const jobQueue = value("AWS_BATCH_JOB_QUEUE");
  const jobDefinition = value("AWS_BATCH_JOB_DEFINITION");
  const accessKeyId = value("AWS_ACCESS_KEY_ID");
  const secretAccessKey = value("AWS_SECRET_ACCESS_KEY");
  if (region && !REGION.test(region)) problems.push(`AWS_REGION "${region}" is not a region name such as us-east-1`);

  const rawEndpoint = env.AWS_BATCH_ENDPOINT?.trim() ?? "";
  let endpoint: string | undefined;
  if (rawEndpoint) {
    let url: URL | undefined;
    try {
      url = new URL(rawEndpoint);
    } catch {
      problems.push(`AWS_BATCH_ENDPOINT "${rawEndpoint}" is not a URL`);
    }
    if (url && url.protocol !== "http:" && url.protocol !== "https:") {
      problems.push(`AWS_BATCH_ENDPOINT "${rawEndpoint}" must be http or https`);
    }
    endpoint = rawEndpoint.replace(/\/+$/, "");
  }

  if (problems.length > 0) {
    throw new PermanentDispatchError(`AWS Batch backend is misconfigured: ${problems.join("; ")}`);
  }
  return { region, endpoint, jobQueue, jobDefinition, credentials: { accessKeyId, secretAccessKey } };
}
