import type { ContentfulStatusCode } from "hono/utils/http-status";

export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UPSTREAM_FAILED: 502,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorIssue {
  path: (string | number)[];
  message: string;
  code?: string;
}

/** The one error type routes throw; the app's error handler turns it into the docs/design.md envelope. */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: ErrorIssue[],
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

/** Each status's code, for errors that arrive as a bare status (hono's HTTPException, its validators). */
const CODE_OF_STATUS = new Map<number, ErrorCode>(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]),
);
const DEFAULT_MESSAGE: Partial<Record<ErrorCode, string>> = {
  BAD_REQUEST: "bad request",
  UNAUTHORIZED: "unauthorized",
  METHOD_NOT_ALLOWED: "method not allowed",
  PAYLOAD_TOO_LARGE: "request body too large",
  UNSUPPORTED_MEDIA_TYPE: "unsupported media type",
};

/**
 * The envelope's error for a client error thrown as a bare status: its own code when the API has one
 * (a 405 or 415 is not a 400), else BAD_REQUEST. Server errors are not mapped here: they are logged and
 * answered as INTERNAL, so no upstream message leaks.
 */
export function errorOfStatus(status: number, message?: string): ApiError {
  const code = CODE_OF_STATUS.get(status) ?? "BAD_REQUEST";
  return new ApiError(code, message || DEFAULT_MESSAGE[code] || "bad request");
}

export const badRequest = (message: string, issues?: ErrorIssue[]) => new ApiError("BAD_REQUEST", message, issues);
export const notFound = (what: string, id: string) => new ApiError("NOT_FOUND", `${what} ${id} not found`);
export const conflict = (message: string, details?: Record<string, unknown>) =>
  new ApiError("CONFLICT", message, undefined, details);

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    requestId: string;
    issues?: ErrorIssue[];
    [k: string]: unknown;
  };
}

export function errorBody(err: ApiError, requestId: string): ErrorBody {
  return {
    error: {
      code: err.code,
      message: err.message,
      requestId,
      ...(err.issues ? { issues: err.issues } : {}),
      ...(err.details ?? {}),
    },
  };
}

/** zod issues, in the shape the envelope carries. */
export function zodIssues(issues: readonly { path: PropertyKey[]; message: string; code?: string }[]): ErrorIssue[] {
  return issues.map((i) => ({
    path: i.path.map((p) => (typeof p === "number" ? p : String(p))),
    message: i.message,
    ...(i.code ? { code: i.code } : {}),
  }));
}
