// The dashboard reads the same /v1 API as any client, authenticated by the session cookie. Calls that
// change state send the CSRF header the API requires with a cookie.
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: {
      error?: { code?: string; message?: string; issues?: { path: (string | number)[]; message: string }[] };
    },
  ) {
    super(body.error?.message ?? `HTTP ${status}`);
  }
}

async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (method !== "GET") headers["x-assay-csrf"] = "1";
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (res.status === 401) {
    location.assign(`/ui/login?next=${encodeURIComponent(location.pathname)}`);
  }
  if (!res.ok) throw new ApiFailure(res.status, json);
  return json as T;
}

export const get = <T>(path: string) => send<T>("GET", path);
export const post = <T>(path: string, body: unknown) => send<T>("POST", path, body);

export interface MetricPoint {
  step: number;
  value: number;
  ts: string;
  min?: number;
  max?: number;
  count?: number;
}
export interface Series {
  name: string;
  points: MetricPoint[];
}
export interface RunView {
  id: string;
  experimentId: string;
  kind: string;
  name: string | null;
  status: string;
  params: Record<string, unknown>;
  spec: Record<string, unknown> | null;
  dataset: { id: string; sha256: string | null } | null;
  baseModel: string | null;
  grader: string | null;
  backend: string | null;
  sweepId: string | null;
  summary: Record<string, unknown> | null;
  stopRequested: boolean;
  stopReason: string | null;
  error: string | null;
  statusHistory?: { status: string; reason: string | null; at: string }[];
  artifacts?: { kind: string; uri: string; createdAt: string }[];
  createdAt: string;
  updatedAt: string;
}
export interface StepSample {
  batch: string;
  index: number;
  completion: string;
  completionChars: number;
  truncated: boolean;
  item: Record<string, unknown>;
  group: string | number | null;
  score: number;
  valid: boolean;
  reason: string | null;
  metrics: Record<string, { score: number; reason?: string }>;
  error: { code: string; message: string } | null;
  groupOutcome?: "all-pass" | "all-fail" | "all-equal";
}
export interface StepSamples {
  step: number;
  kept: number;
  valid: number;
  invalidByCode: Record<string, number>;
  zeroVarianceGroups: { allPass: number; allFail: number; allEqual: number };
  data: StepSample[];
  nextCursor: string | null;
}
