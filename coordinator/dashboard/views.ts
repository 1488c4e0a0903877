/**
 * Pure builders of the dashboard's sections from what the coordinator holds (the queue index, the
 * fleet's view, job rows and views), each filtered for one viewer. No I/O here.
 */
import type {
  AgentView,
  DashboardAgent,
  DashboardQueue,
  DashboardResult,
  DashboardRun,
  DashboardRunningJob,
  JobView,
  RunView,
} from '../../shared/index.js';
import { type Principal, canAccess } from '../auth/tokens.js';
import type { JobQueues } from '../scheduler/index.js';
import type { JobRow } from '../store/index.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

/**
 * The queues per app version that `viewer` may see: depth, the oldest waiting job, top priority and
 * depth per slot class, plus how many of the version's jobs are on a slot. Reads the lanes, so it
 * costs in proportion to lanes, not queued jobs. Versions with nothing queued but jobs running are
 * listed too (depth 0). Longest wait first.
 * @example queuesFor(service.queues, running, { org: 'acme' })
 */
export function queuesFor(queues: JobQueues, running: readonly DashboardRunningJob[], viewer: Principal): DashboardQueue[] {
  const byVersion = new Map<string, DashboardQueue & { oldestMs: number; orgs: Set<string> }>();
  const row = (v: string) => {
    let q = byVersion.get(v);
    if (!q) {
      q = { app_version_id: v, org_ids: [], depth: 0, running: 0, oldest_queued_at: null, top_priority: null, by_class: {}, oldestMs: Infinity, orgs: new Set() };
      byVersion.set(v, q);
    }
    return q;
  };
  for (const classKey of queues.classKeys()) {
    for (const lane of queues.lanesOf(classKey)?.lanes ?? []) {
      if (!canAccess(viewer, lane.orgId) || lane.size === 0) continue;
      const q = row(lane.appVersionId);
      q.depth += lane.size;
      q.orgs.add(lane.orgId);
      q.by_class[lane.classKey] = (q.by_class[lane.classKey] ?? 0) + lane.size;
      q.oldestMs = Math.min(q.oldestMs, lane.oldestSubmittedAtMs);
      const top = lane.levels[0]?.priority ?? null;
      if (top !== null && (q.top_priority === null || top > q.top_priority)) q.top_priority = top;
    }
  }
  for (const j of running) {
    if (!canAccess(viewer, j.org_id)) continue;
    const q = row(j.app_version_id);
    q.running++;
    q.orgs.add(j.org_id);
  }
  return [...byVersion.values()]
    .sort((a, b) => a.oldestMs - b.oldestMs || b.running - a.running || a.app_version_id.localeCompare(b.app_version_id))
    .map(({ oldestMs, orgs, ...q }) => ({ ...q, org_ids: [...orgs].sort(), oldest_queued_at: Number.isFinite(oldestMs) ? iso(oldestMs) : null }));
}

/**
 * The fleet as `viewer` may see it: every agent and slot, but a slot's job and installed build are
 * hidden (`redacted`) when they belong to another org: the job by its org, the installed build by
 * the org of the last job that ran on the slot (unknown, e.g. a build the agent had before any job,
 * counts as another org's).
 */
export function agentsFor(
  view: readonly AgentView[],
  viewer: Principal,
  orgOfJob: (jobId: string) => string | undefined,
  lastOrgOnSlot: (agentId: string, slotId: string) => string | undefined,
): DashboardAgent[] {
  return view.map((a) => ({
    ...a,
    slots: a.slots.map((s) => {
      if (viewer.org === '*') return { ...s, redacted: false };
      const mine = (org: string | undefined) => org !== undefined && canAccess(viewer, org);
      const hideJob = s.job_id !== null && !mine(orgOfJob(s.job_id));
      const hideBuild = s.installed_app_version_id !== null && !mine(lastOrgOnSlot(a.agent_id, s.slot_id));
      return {
        ...s,
        job_id: hideJob ? null : s.job_id,
        installed_app_version_id: hideBuild ? null : s.installed_app_version_id,
        redacted: hideJob || hideBuild,
      };
    }),
  }));
}

/** A job row on a slot as the dashboard shows it; null when it is not on a slot (queued or ended). */
export function runningJobOf(row: JobRow): DashboardRunningJob | null {
  if (row.status !== 'assigned' && row.status !== 'running') return null;
  return {
    job_id: row.id,
    org_id: row.orgId,
    app_version_id: row.appVersionId,
    test_path: row.testPath,
    target: row.target as DashboardRunningJob['target'],
    platform: row.platform as DashboardRunningJob['platform'],
    priority: row.priority,
    status: row.status,
    attempt: row.attempts,
    max_attempts: row.maxAttempts,
    agent_id: row.agentId,
    slot_id: row.slotId,
    assigned_at: iso(row.assignedAtMs),
    started_at: iso(row.startedAtMs),
    installed_build: row.installedBuild,
  };
}

/** An ended job as the results panel shows it. */
export function resultOf(job: JobView): DashboardResult {
  const tests: Record<string, number> = {};
  for (const t of job.test_cases) tests[t.status] = (tests[t.status] ?? 0) + 1;
  return {
    job_id: job.job_id,
    org_id: job.org_id,
    app_version_id: job.app_version_id,
    test_path: job.test_path,
    target: job.target,
    platform: job.platform,
    status: job.status as DashboardResult['status'],
    attempts: job.attempts,
    duration_ms: job.duration_ms,
    finished_at: job.finished_at,
    agent_id: job.agent_id,
    slot_id: job.slot_id,
    error: job.error,
    video_url: job.video?.url ?? null,
    tests,
  };
}

/** A run without its job list (the panel shows progress, not jobs). */
export function runOf(run: RunView): DashboardRun {
  const { jobs: _jobs, idempotency_key: _key, ...rest } = run;
  return rest;
}
