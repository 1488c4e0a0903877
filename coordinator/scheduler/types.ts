/** What the scheduler sees: queued jobs and slots, as plain data. */
import type { Platform, Target } from '../../shared/index.js';

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
}

/** Why a job went to a slot. */
export type DecisionReason =
  /** The slot already has the job's build installed: no install needed. */
  | 'affinity'
  /** No warm slot fits; the best job by priority, then age, goes to a slot that must install. */
  | 'install';

export interface Decision {
  jobId: string;
  slotKey: string;
  reason: DecisionReason;
}
