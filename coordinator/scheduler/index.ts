/** The scheduler room: per-app-version queues and the pure assignment decision. Imports only shared/. */
export { JobQueues, compareJobs } from './job-queues.js';
export { planAssignments, explainWait } from './plan.js';
export type { QueuedJob, SlotState, Decision, DecisionReason } from './types.js';
