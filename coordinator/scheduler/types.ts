/** What the scheduler sees and says: queued jobs, slots, the policy, decisions and explanations, as plain data. */
import type { Platform, Target } from '../../shared/index.js';
import type { JobQueues } from './job-queues.js';
import type { SlotIndex } from './slot-index.js';

export interface QueuedJob {
  jobId: string;
  orgId: string;
  appVersionId: string;
  /** 1 … 10, higher first. */
  priority: number;
  target: Target;
  platform: Platform;
  /** When the job was submitted (epoch ms); a requeued job keeps its place. */
  submittedAtMs: number;
  /** Slots this job should not go to again (where an earlier attempt broke), as slot keys. */
  avoidSlots: readonly string[];
  /**
   * How long the job is expected to run (ms), e.g. the recent mean of its test path. Optional:
   * the policy's `defaultJobDurationMs` stands in when absent. Used for planning and hold bounds only.
   */
  expectedDurationMs?: number;
}

export interface SlotState {
  /** `<agentId>/<slotId>`, unique in the fleet. */
  slotKey: string;
  target: Target;
  platform: Platform;
  installedAppVersionId: string | null;
  /** False while the slot runs or holds a job. */
  free: boolean;
  /** False while its agent is disconnected or the device is offline. */
  online: boolean;
  /** The cloud account whose parallel-session cap this slot counts against (e.g. `browserstack:acme`); absent for lab slots. */
  cloudAccount?: string;
  /** Busy slot: the org of the job it holds (fair share counts it). Absent: the slot counts for no org. */
  runningOrgId?: string | null;
  /** Busy slot: the app version of the job it holds (the build it will have), when it differs from `installedAppVersionId`. */
  runningAppVersionId?: string | null;
  /**
   * Busy slot: when it is expected to be free again (epoch ms): assignment time + install estimate
   * (when the build differed) + the job's expected duration. Absent: unknown (no hold waits on it).
   */
  busyUntilMs?: number | null;
}

/** The policy's knobs. Every field has a default (see `DEFAULT_POLICY`). */
export interface SchedulerPolicy {
  /** Weight of each org in fair share (capacity ∝ weight among orgs with queued work). Default `{}`. */
  orgWeights: Readonly<Record<string, number>>;
  /** Weight of an org not listed in `orgWeights`. Default 1. */
  defaultOrgWeight: number;
  /**
   * Bounded waiting: a job queued longer than this (ms) goes before every job that is not, whatever
   * their affinity, priority and org share. Default 60 min: above the longest legitimate drain of a
   * burst (1,000 specs on 30 slots take ~40 min), where a shorter bound only turns the plan into FIFO.
   */
  agingBoundMs: number;
  /** Estimated cost of installing a build on a slot (ms). Default 60 s. */
  installCostMs: number;
  /** Expected duration of a job without `expectedDurationMs` (ms). Default 60 s. */
  defaultJobDurationMs: number;
  /**
   * Bounded delay: a job may be held for a slot that has its build when that slot is expected to
   * start it at most holdFactor × (its expected duration + installCostMs) later than an install on
   * a free slot would. Default 1.5.
   */
  holdFactor: number;
  /** …and at most this much later (ms). Default 150 s. */
  maxHoldMs: number;
  /**
   * When the class's plan horizon is this close (ms), a version's jobs of equal priority go longest
   * first, so the last jobs are short and slots finish together. Default 10 min; 0 turns it off.
   */
  tailLongestFirstMs: number;
  /** Parallel-session cap per cloud account (`SlotState.cloudAccount`); an account not listed has no cap. Default `{}`. */
  cloudCaps: Readonly<Record<string, number>>;
  /**
   * Versions whose oldest queued jobs arrived within this window (ms) are planned as one burst: the
   * plan balances them. Beyond it, the older backlog is served first. Default 2 min.
   */
  burstWindowMs: number;
  /** Plan how many slots each version needs and spread large backlogs on purpose. Default true (false only for experiments). */
  spreading: boolean;
}

/** What one scheduling round needs. */
export interface SchedulerInput {
  /** The queued jobs, indexed (pass the live `JobQueues`; it is read, never changed). */
  queues: JobQueues;
  /**
   * Every slot of the fleet, free or not, online or not: the fleet's live `SlotIndex` (read, never
   * changed), or an array (indexed from scratch for the round, in its order).
   */
  slots: SlotIndex | readonly SlotState[];
  /** The time of the round (epoch ms). */
  nowMs: number;
  /** Overrides of `DEFAULT_POLICY`. */
  policy?: Partial<SchedulerPolicy>;
}

/** Why a job went to a slot, in terms of installs: kept to two values so counters stay simple. */
export type DecisionReason =
  /** The slot already has the job's build installed: no install needed. */
  | 'affinity'
  /** The slot must install the job's build. */
  | 'install';

/** Which rule chose the job. */
export type DecisionRule =
  /** The build is installed on the slot and its queue had work of the org and priority due next. */
  | 'affinity'
  /** The job had waited past `agingBoundMs`. */
  | 'aged'
  /** Fair share: the job's org was furthest below its weighted share of the slot's class. */
  | 'fair_share'
  /** A higher-priority job of the same org, on a build the slot does not have. */
  | 'priority'
  /** The plan: the job's version has more backlog than its slots can finish by the planned horizon. */
  | 'spread'
  /** No version needed more slots; the one with the most work per slot gets help. */
  | 'longest_backlog';

export interface Decision {
  jobId: string;
  slotKey: string;
  reason: DecisionReason;
  rule: DecisionRule;
  /** One line for logs and the API: why this job, why this slot. */
  why: string;
}

/** A free slot that got no job although queued jobs fit it, and why. */
export interface IdleSlot {
  slotKey: string;
  code: 'cap_reached' | 'held_for_affinity';
  why: string;
}

/** The plan of one slot class (target/platform) in a round: recomputed every round from the input. */
export interface ClassPlan {
  classKey: string;
  /** The horizon (epoch ms) by which the class's queued and running work can end, installs included. */
  horizonMs: number;
  /** The (at most ten) versions furthest behind: backlog their slots cannot finish by the horizon (ms), after this round's decisions. */
  deficits: ReadonlyArray<{ appVersionId: string; deficitMs: number; slots: number }>;
}

export interface SchedulerRound {
  decisions: Decision[];
  idle: IdleSlot[];
  plans: ClassPlan[];
  /**
   * When a round should run again if nothing else happens (epoch ms), or null: a job is held for a
   * warm slot whose expected end passes then. The caller sets a timer; the scheduler has none.
   */
  wakeAtMs: number | null;
}

export type WaitCode =
  | 'no_matching_slot'
  | 'slots_offline'
  | 'cap_reached'
  | 'held_for_affinity'
  | 'behind_higher_priority'
  | 'fair_share'
  | 'slots_busy'
  | 'aged'
  | 'dispatching';

/** Why a queued job is not running yet. */
export interface WaitExplanation {
  code: WaitCode;
  /** A sentence for `qgjob status` and the API. */
  message: string;
  /** Queued jobs of the same org and class with a higher priority. */
  higherPriorityAhead: number;
  /** Queued jobs of the same class that go first by priority, then age (any org). */
  ahead: number;
}
