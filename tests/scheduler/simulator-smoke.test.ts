/**
 * The benchmark's simulator in smoke mode, as CI runs it: the same seeded traces give the same
 * figures, qgjob never exceeds a cloud cap, installs less than first-free FIFO on the CI burst, and
 * the bounds are what the issue defines.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SCHEDULERS, firstFreeFifo, qgjob } from '../../bench/scheduler/baselines.js';
import { installBound, makespanBound } from '../../bench/scheduler/bounds.js';
import { runBench } from '../../bench/scheduler/index.js';
import { simulate } from '../../bench/scheduler/simulator.js';
import { ciBurst, cloud, type Trace } from '../../bench/scheduler/workloads.js';

test('smoke run: zero cap violations for qgjob on every workload, fewer installs than first-free on the CI burst', async () => {
  const report = await runBench({ smoke: true, timing: false }, () => {});
  assert.is(report.workloads.length, 4);
  for (const w of report.workloads) {
    const q = w.results.find((r) => r.scheduler === 'qgjob')!;
    assert.is(q.capViolations, 0, `${w.workload}: cap violations`);
    assert.is(q.jobs, w.results[1]!.jobs);
  }
  const burst = report.workloads.find((w) => w.workload === 'ci-burst')!;
  const q = burst.results.find((r) => r.scheduler === 'qgjob')!;
  const ff = burst.results.find((r) => r.scheduler === 'first-free FIFO')!;
  assert.ok(q.installs < ff.installs, `qgjob ${q.installs} installs vs first-free ${ff.installs}`);
  // The cloud trace does make first-free exceed the cap: the check is not vacuous.
  const c = report.workloads.find((w) => w.workload === 'cloud')!;
  assert.ok(c.results.find((r) => r.scheduler === 'first-free FIFO')!.capViolations > 0);
});

test('the simulator is deterministic: same seed, same figures', () => {
  const a = simulate(ciBurst({ smoke: true }), 'qgjob', qgjob);
  const b = simulate(ciBurst({ smoke: true }), 'qgjob', qgjob);
  assert.equal({ ...a, schedulerMs: 0 }, { ...b, schedulerMs: 0 });
  const c = simulate(ciBurst({ smoke: true, seed: 99 }), 'qgjob', qgjob);
  assert.not.equal(c.makespanMs, a.makespanMs);
});

test('every scheduler runs every job of a trace exactly once', () => {
  const trace = cloud({ smoke: true });
  for (const s of SCHEDULERS) {
    const r = simulate(trace, s.name, s.run);
    assert.is(r.jobs, trace.jobs.length);
    assert.ok(r.makespanMs > 0);
  }
});

test('bounds: M* and I(M) as the issue defines them, on a trace small enough to check by hand', () => {
  const trace: Trace = {
    name: 'tiny',
    description: '',
    installMs: 60_000,
    policy: {},
    slots: [1, 2].map((i) => ({ slotKey: `s/${i}`, target: 'emulator', platform: 'android', installedAppVersionId: null })),
    jobs: [
      // Version A: 3 × 100 s, version B: 1 × 50 s arriving at 400 s.
      ...[0, 1, 2].map((i) => ({ jobId: `a${i}`, orgId: 'o', appVersionId: 'A', priority: 5, target: 'emulator' as const, platform: 'android' as const, arrivalMs: 0, durationMs: 100_000, expectedDurationMs: 100_000 })),
      { jobId: 'b0', orgId: 'o', appVersionId: 'B', priority: 5, target: 'emulator', platform: 'android', arrivalMs: 400_000, durationMs: 50_000, expectedDurationMs: 50_000 },
    ],
  };
  // (350 s + 2 installs) / 2 slots = 235 s; longest job + install = 160 s; last arrival + its job = 450 s.
  assert.is(makespanBound(trace), 450_000);
  // I(450 s) = ceil(300/390) + ceil(50/390) = 2; I(210 s) = ceil(300/150) + 1 = 3.
  assert.is(installBound(trace, 450_000), 2);
  assert.is(installBound(trace, 210_000), 3);
  assert.is(installBound(trace, 60_000), Infinity);
  const r = simulate(trace, 'first-free', firstFreeFifo);
  assert.ok(r.makespanMs >= makespanBound(trace));
});

test.run();
