/**
 * The dashboard's pure parts: bounded log tails (lines per job, line length, a new attempt starts
 * again, skipped lines leave a gap in `n`), queues per app version from the lane index, and which
 * parts of a slot an org may see.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogTails } from '../../coordinator/dashboard/log-tails.js';
import { agentsFor, queuesFor } from '../../coordinator/dashboard/views.js';
import { JobQueues } from '../../coordinator/scheduler/index.js';
import type { AgentView, DashboardRunningJob, LogLine } from '../../shared/index.js';

const lines = (...texts: string[]): LogLine[] => texts.map((text, i) => ({ at_ms: 1000 + i, stream: 'stdout', text }));

test('log tails keep the last lines of the current attempt, cut long lines, and number lines without reuse', () => {
  const tails = new LogTails(3, 10);
  tails.add('j1', 'acme', 1, lines('a', 'b'));
  tails.add('j1', 'acme', 1, lines('c', 'd'));
  assert.equal(tails.get('j1')!.lines.map((l) => [l.n, l.text]), [[2, 'b'], [3, 'c'], [4, 'd']]);
  assert.equal(tails.takeNew().map((f) => [f.orgId, f.tail.lines.map((l) => l.text)]), [['acme', ['b', 'c', 'd']]]);
  assert.equal(tails.takeNew(), [], 'taken once');

  // A chunk longer than the tail: its first lines are skipped but numbered (a visible gap).
  tails.add('j1', 'acme', 1, lines('e', 'f', 'g', 'h', 'i'));
  assert.equal(tails.get('j1')!.lines.map((l) => [l.n, l.text]), [[7, 'g'], [8, 'h'], [9, 'i']]);

  tails.add('j1', 'acme', 2, lines('x'.repeat(25)));
  const t = tails.get('j1')!;
  assert.is(t.attempt, 2);
  assert.equal(t.lines.map((l) => [l.n, l.text]), [[10, `${'x'.repeat(10)}…`]], 'a new attempt starts the tail again; n keeps growing');
  const fresh = tails.takeNew();
  assert.is(fresh.length, 1);
  assert.is(fresh[0]!.tail.attempt, 2);

  tails.drop('j1');
  assert.is(tails.get('j1'), undefined);
  assert.is(tails.size, 0);
});

test('queues per app version: depth, oldest wait, classes and top priority, only of the viewer org; running counted', () => {
  const q = JobQueues.of([
    { jobId: 'a1', orgId: 'acme', appVersionId: 'v1', priority: 5, target: 'emulator', platform: 'android', submittedAtMs: 2000, avoidSlots: [] },
    { jobId: 'a2', orgId: 'acme', appVersionId: 'v1', priority: 8, target: 'browserstack', platform: 'ios', submittedAtMs: 3000, avoidSlots: [] },
    { jobId: 'g1', orgId: 'globex', appVersionId: 'v1', priority: 9, target: 'emulator', platform: 'android', submittedAtMs: 1000, avoidSlots: [] },
    { jobId: 'g2', orgId: 'globex', appVersionId: 'g9', priority: 5, target: 'emulator', platform: 'android', submittedAtMs: 500, avoidSlots: [] },
  ]);
  const running = [{ job_id: 'a0', org_id: 'acme', app_version_id: 'v0' } as DashboardRunningJob];
  assert.equal(queuesFor(q, running, { org: 'acme' }), [
    { app_version_id: 'v1', org_ids: ['acme'], depth: 2, running: 0, oldest_queued_at: new Date(2000).toISOString(), top_priority: 8, by_class: { 'emulator/android': 1, 'browserstack/ios': 1 } },
    { app_version_id: 'v0', org_ids: ['acme'], depth: 0, running: 1, oldest_queued_at: null, top_priority: null, by_class: {} },
  ]);
  const all = queuesFor(q, running, { org: '*' });
  assert.equal(all.map((x) => [x.app_version_id, x.depth, x.org_ids]), [['g9', 1, ['globex']], ['v1', 3, ['acme', 'globex']], ['v0', 0, ['acme']]], 'longest wait first');
  assert.is(all[1]!.top_priority, 9);
});

test('slots: another org job and the build it installed are hidden; an unknown build is hidden from orgs, shown to the admin', () => {
  const slot = (id: string, jobId: string | null, installed: string | null) => ({
    slot_id: id, target: 'emulator' as const, platform: 'android' as const, device_name: 'd', endpoint: 'http://x', installed_app_version_id: installed,
    state: jobId ? ('busy' as const) : ('idle' as const), health_reason: null, job_id: jobId, installs: 0,
  });
  const view: AgentView[] = [
    { agent_id: 'a', name: 'a', version: 't', connected: true, connected_at: '', last_seen_at: '', slots: [slot('s1', 'job-acme', 'acme-v1'), slot('s2', 'job-globex', 'globex-v1'), slot('s3', null, 'old-build'), slot('s4', null, null)] },
  ];
  const jobs: Record<string, string> = { 'job-acme': 'acme', 'job-globex': 'globex' };
  const lastOrg: Record<string, string> = { 'a/s1': 'acme', 'a/s2': 'globex' };
  const shown = (org: string) =>
    agentsFor(view, { org }, (j) => jobs[j], (a, s) => lastOrg[`${a}/${s}`])[0]!.slots.map((s) => [s.slot_id, s.job_id, s.installed_app_version_id, s.redacted]);
  assert.equal(shown('acme'), [['s1', 'job-acme', 'acme-v1', false], ['s2', null, null, true], ['s3', null, null, true], ['s4', null, null, false]]);
  assert.equal(shown('globex'), [['s1', null, null, true], ['s2', 'job-globex', 'globex-v1', false], ['s3', null, null, true], ['s4', null, null, false]]);
  assert.equal(shown('*'), [['s1', 'job-acme', 'acme-v1', false], ['s2', 'job-globex', 'globex-v1', false], ['s3', null, 'old-build', false], ['s4', null, null, false]]);
});

test.run();
