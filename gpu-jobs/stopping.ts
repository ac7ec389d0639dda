import type { EarlyStoppingRule, HackingAlarm, Limits } from "./spec";

export interface Point {
  step: number;
  value: number;
}

export interface StopDecision {
  stop: true;
  reason: string;
}

const fmt = (x: number) => String(Number(x.toPrecision(4)));

/**
 * Patience rule: stop once `patience` reports in a row have not improved on the best value so far by
 * more than `minDelta` (higher is better for `max`, lower for `min`). `points` in step order.
 */
export function checkRule(rule: EarlyStoppingRule, points: Point[]): StopDecision | null {
  if (points.length === 0) return null;
  let best = points[0]!;
  let since = 0;
  for (const p of points.slice(1)) {
    const gain = rule.mode === "max" ? p.value - best.value : best.value - p.value;
    if (gain > rule.minDelta) {
      best = p;
      since = 0;
    } else since++;
  }
  if (since < rule.patience) return null;
  return {
    stop: true,
    reason: `early stopping: ${rule.metric} has not improved by more than ${fmt(rule.minDelta)} for ${since} reports (best ${fmt(best.value)} at step ${best.step}, ${rule.mode})`,
  };
}

/** Least-squares slope of value over step; 0 for fewer than two points. */
export function slope(points: Point[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.step, 0) / n;
  const my = points.reduce((s, p) => s + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.step - mx) * (p.value - my);
    den += (p.step - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Reward-hacking alarm: over the last `window` reports of each, the training reward rises while the
 * holdout score falls (slopes of opposite sign beyond `minSlope`): the policy is learning the grader,
 * not the task.
 */
export function checkHacking(alarm: HackingAlarm, train: Point[], holdout: Point[]): StopDecision | null {
  if (train.length < alarm.window || holdout.length < alarm.window) return null;
  const t = slope(train.slice(-alarm.window));
  const h = slope(holdout.slice(-alarm.window));
  if (t > alarm.minSlope && h < -alarm.minSlope) {
    return {
      stop: true,
      reason: `reward-hacking alarm: ${alarm.trainMetric} rising (slope ${fmt(t)}/step) while ${alarm.holdoutMetric} falls (slope ${fmt(h)}/step) over the last ${alarm.window} reports`,
    };
  }
  return null;
}

export interface RunProgress {
  maxStep: number | null;
  rewardSamples: number;
  /** Epoch ms the run started running (first heartbeat), if it has. */
  startedAt: number | null;
  now: number;
}

export function checkLimits(limits: Limits, p: RunProgress): StopDecision | null {
  if (limits.maxSteps !== undefined && p.maxStep !== null && p.maxStep >= limits.maxSteps) {
    return { stop: true, reason: `limit: step ${p.maxStep} reached maxSteps ${limits.maxSteps}` };
  }
  if (limits.maxRewardSamples !== undefined && p.rewardSamples >= limits.maxRewardSamples) {
    return {
      stop: true,
      reason: `limit: ${p.rewardSamples} reward samples reached maxRewardSamples ${limits.maxRewardSamples}`,
    };
  }
  if (limits.maxWallClockMinutes !== undefined && p.startedAt !== null) {
    const minutes = (p.now - p.startedAt) / 60_000;
    if (minutes >= limits.maxWallClockMinutes) {
      return {
        stop: true,
        reason: `limit: running for ${minutes.toFixed(1)} min reached maxWallClockMinutes ${limits.maxWallClockMinutes}`,
      };
    }
  }
  return null;
}
