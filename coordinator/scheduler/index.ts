/** The scheduler room: per-app-version queues and the pure assignment policy. Imports only shared/. */
export { JobQueues, Lane, classKeyOf, compareJobs } from './job-queues.js';
export type { ClassLanes, LaneLevel } from './job-queues.js';
export { scheduleRound } from './schedule-round.js';
export { SlotIndex } from './slot-index.js';
export type { BuildSlots, ClassSlots, SlotRecord } from './slot-index.js';
export { explainWaiting, waitExplainer } from './explain.js';
export { DEFAULT_POLICY, resolvePolicy } from './policy.js';
export { planAssignments, explainWait } from './plan.js';
export type {
  QueuedJob,
  SlotState,
  Decision,
  DecisionReason,
  DecisionRule,
  IdleSlot,
  ClassPlan,
  SchedulerInput,
  SchedulerPolicy,
  SchedulerRound,
  WaitCode,
  WaitExplanation,
} from './types.js';
