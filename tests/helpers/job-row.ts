/**
 * A stored job row with plain defaults, for the store's own tests: the row the job service itself
 * writes for a submit (`newQueuedJob`), with the given id; `over` sets what a test needs.
 */
import { newQueuedJob } from '../../coordinator/jobs/job-service.js';
import type { JobRow } from '../../coordinator/store/index.js';
import { JobSpec } from '../../shared/index.js';

const SPEC = JobSpec.parse({ org_id: 'org', app_version_id: 'v1', test_path: 'tests/a.spec.js', target: 'emulator' });
const AT_MS = 1_790_000_000_123;

export const jobRow = (id: string, over: Partial<JobRow> = {}): JobRow => ({ ...newQueuedJob(SPEC, AT_MS, { resubmittedFrom: null }).row, id, ...over });
