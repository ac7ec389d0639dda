/**
 * The one definition of a run's lifecycle: its statuses, which status may follow which, and which are
 * terminal. The schema, the run queries, the routes and the run-token check all read it from here, so a
 * new status is added in one place. It lives under db/ because the schema needs it and db/ imports
 * nothing from functions/.
 */

export const RUN_STATUSES = [
  "queued",
  "dispatching",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "stopped",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** An ended run does not move again, and its run token stops working. */
export const TERMINAL_STATUSES = [
  "succeeded",
  "failed",
  "cancelled",
  "stopped",
] as const satisfies readonly RunStatus[];
/** The statuses a run can still leave: everything that is not terminal. */
export const ACTIVE_STATUSES = ["queued", "dispatching", "running"] as const satisfies readonly RunStatus[];

const terminal: ReadonlySet<RunStatus> = new Set(TERMINAL_STATUSES);
export const isTerminal = (s: RunStatus) => terminal.has(s);

/**
 * Which statuses a run may move to from each status. Status moves only forward, except that a dispatch
 * that failed transiently puts a `dispatching` run back to `queued` for the retry.
 */
const TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  queued: ["dispatching", "running", ...TERMINAL_STATUSES],
  dispatching: ["queued", "running", ...TERMINAL_STATUSES],
  running: [...TERMINAL_STATUSES],
  succeeded: [],
  failed: [],
  cancelled: [],
  stopped: [],
};

export const canMove = (from: RunStatus, to: RunStatus) => TRANSITIONS[from].includes(to);

/** The statuses from which a run may move to `to`: the guard for a concurrent-safe status update. */
export function allowedFrom(to: RunStatus): RunStatus[] {
  return RUN_STATUSES.filter((from) => canMove(from, to));
}
