/** A complete JobView for tests that stand in for the coordinator's HTTP or watch answers. */
import type { JobView } from '../../shared/index.js';

export function jobViewFixture(over: Partial<JobView> = {}): JobView {
  const now = new Date().toISOString();
  return {
    job_id: 'job_01M89ECP7T3RV1B4F1E4X69QCB',
    org_id: 'acme',
    app_version_id: 'v1',
    test_path: 'tests/onboarding.spec.js',
    priority: 5,
    target: 'emulator',
    platform: 'android',
    status: 'queued',
    attempts: 0,
    max_attempts: 3,
    timeout_ms: 1_800_000,
    test_retries: 0,
    not_before: null,
    resubmitted_from: null,
    run_id: null,
    attempt_id: null,
    agent_id: null,
    slot_id: null,
    created_at: now,
    updated_at: now,
    assigned_at: null,
    started_at: null,
    finished_at: null,
    duration_ms: null,
    installed_build: null,
    error: null,
    test_cases: [],
    video: null,
    video_note: null,
    waiting_reason: null,
    ...over,
  };
}
