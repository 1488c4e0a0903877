/** The policy's defaults and the small rules every part of the scheduler shares (weights, durations, hold bounds). */
import type { QueuedJob, SchedulerPolicy } from './types.js';

export const DEFAULT_POLICY: Readonly<SchedulerPolicy> = Object.freeze({
  orgWeights: Object.freeze({}),
  defaultOrgWeight: 1,
  agingBoundMs: 60 * 60_000,
  installCostMs: 60_000,
  defaultJobDurationMs: 60_000,
  holdFactor: 1.5,
  maxHoldMs: 150_000,
  tailLongestFirstMs: 600_000,
  burstWindowMs: 120_000,
  cloudCaps: Object.freeze({}),
  spreading: true,
});

/**
 * The policy with every field set.
 * @example resolvePolicy({ orgWeights: { acme: 2 } }).defaultOrgWeight // → 1
 */
export function resolvePolicy(p: Partial<SchedulerPolicy> | undefined): SchedulerPolicy {
  if (!p) return DEFAULT_POLICY;
  const out: SchedulerPolicy = { ...DEFAULT_POLICY };
  for (const [k, v] of Object.entries(p)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}

/** An org's fair-share weight (> 0). */
export const weightOf = (policy: SchedulerPolicy, orgId: string): number => {
  const w = policy.orgWeights[orgId] ?? policy.defaultOrgWeight;
  return w > 0 ? w : policy.defaultOrgWeight > 0 ? policy.defaultOrgWeight : 1;
};

/** A job's expected duration (ms). */
export const durationOf = (policy: SchedulerPolicy, job: QueuedJob): number => job.expectedDurationMs ?? policy.defaultJobDurationMs;

/** How long a job of expected duration `durationMs` may be held for a warm slot (ms). */
export const holdBoundMs = (policy: SchedulerPolicy, durationMs: number): number =>
  Math.min(policy.maxHoldMs, policy.holdFactor * (durationMs + policy.installCostMs));
