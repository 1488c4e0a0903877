/** Rows → the API's shapes (JobView, JobEvent). */
import type { JobEvent, JobState, JobView, LogLine, Platform, Target, TestCaseStatus } from '../../shared/index.js';
import type { JobRow, StoredEvent, TestCaseRow, VideoResultRow } from '../store/index.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

export function toJobView(row: JobRow, testCases: TestCaseRow[], video: VideoResultRow | null, waitingReason: string | null): JobView {
  return {
    job_id: row.id,
    org_id: row.orgId,
    app_version_id: row.appVersionId,
    test_path: row.testPath,
    priority: row.priority,
    target: row.target as Target,
    platform: row.platform as Platform,
    status: row.status as JobState,
    attempts: row.attempts,
    max_attempts: row.maxAttempts,
    timeout_ms: row.timeoutMs,
    test_retries: row.testRetries,
    not_before: row.status === 'queued' ? iso(row.notBeforeMs) : null,
    resubmitted_from: row.resubmittedFrom,
    run_id: row.runId ?? null,
    attempt_id: row.attemptId,
    agent_id: row.agentId,
    slot_id: row.slotId,
    created_at: iso(row.createdAtMs)!,
    updated_at: iso(row.updatedAtMs)!,
    assigned_at: iso(row.assignedAtMs),
    started_at: iso(row.startedAtMs),
    finished_at: iso(row.finishedAtMs),
    duration_ms: row.durationMs,
    installed_build: row.installedBuild,
    error: row.errorReason ? { reason: row.errorReason, message: row.errorMessage ?? '' } : null,
    test_cases: testCases.map((t) => ({
      title: t.title,
      full_title: t.fullTitle,
      status: t.status as TestCaseStatus,
      duration_ms: t.durationMs,
      error_message: t.errorMessage,
      retry: t.retry,
    })),
    video: video?.videoUrl ? { url: video.videoUrl, platform: video.platform, timestamp: video.timestamp ? video.timestamp.toISOString() : null } : null,
    video_note: row.videoNote,
    waiting_reason: row.status === 'queued' ? waitingReason : null,
  };
}

/** Data of a `state` event row. */
export interface StateEventData {
  from: JobState | null;
  to: JobState;
  message: string | null;
}
/** Data of an `install` event row. */
export interface InstallEventData {
  slot_id: string;
  app_version_id: string;
  duration_ms: number;
}

export function toJobEvent(e: StoredEvent): JobEvent {
  const at = new Date(Number(e.row.atMs)).toISOString();
  if (e.kind === 'log') {
    return { job_id: e.row.jobId, event_id: e.row.eventId, at, type: 'log', attempt: e.row.attempt, lines: JSON.parse(e.row.lines) as LogLine[] };
  }
  const row = e.row;
  if (row.type === 'install') {
    const d = JSON.parse(row.data) as InstallEventData;
    return { job_id: row.jobId, event_id: row.eventId, at, type: 'install', attempt: row.attempt, ...d };
  }
  const d = JSON.parse(row.data) as StateEventData;
  return { job_id: row.jobId, event_id: row.eventId, at, type: 'state', attempt: row.attempt, from: d.from, to: d.to, message: d.message };
}
