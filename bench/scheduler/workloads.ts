/**
 * The benchmark's workloads, each a fixed trace built from a seed: the jobs (arrival, org, version,
 * priority, class, true duration and the estimate the scheduler sees) and the slots. Durations are
 * drawn uniformly in 20–120 s; the estimate is the true duration times a factor in [0.8, 1.2]
 * (what a per-test-path history would give), unless `exactEstimates` is set.
 */
import type { Platform, Target } from '../../shared/index.js';
import type { SchedulerPolicy } from '../../coordinator/scheduler/index.js';
import { Rng } from './rng.js';

export interface TraceJob {
  jobId: string;
  orgId: string;
  appVersionId: string;
  priority: number;
  target: Target;
  platform: Platform;
  arrivalMs: number;
  /** The true duration (the simulator runs the job this long). */
  durationMs: number;
  /** What the scheduler is told. */
  expectedDurationMs: number;
}

export interface TraceSlot {
  slotKey: string;
  target: Target;
  platform: Platform;
  cloudAccount?: string;
  installedAppVersionId: string | null;
}

export interface Trace {
  name: string;
  description: string;
  /** Jobs in arrival order. */
  jobs: TraceJob[];
  slots: TraceSlot[];
  /** The true install time (ms). */
  installMs: number;
  /** The policy the qgjob scheduler runs with (weights, caps, aging bound). Caps are also the cloud's real limits. */
  policy: Partial<SchedulerPolicy>;
}

export interface WorkloadOptions {
  seed?: number;
  /** Smaller traces for a quick CI run. */
  smoke?: boolean;
  /** The scheduler is told the true durations. */
  exactEstimates?: boolean;
}

const S = 1000;

function durations(rng: Rng, exact: boolean): { durationMs: number; expectedDurationMs: number } {
  const durationMs = rng.int(20, 120) * S;
  return { durationMs, expectedDurationMs: exact ? durationMs : Math.round(durationMs * rng.uniform(0.8, 1.2)) };
}

function slots(n: number, target: Target, platform: Platform, prefix: string, cloudAccount?: string): TraceSlot[] {
  return Array.from({ length: n }, (_, i) => ({
    slotKey: `${prefix}/${String(i + 1).padStart(2, '0')}`,
    target,
    platform,
    installedAppVersionId: null,
    ...(cloudAccount ? { cloudAccount } : {}),
  }));
}

function finish(jobs: Omit<TraceJob, 'jobId'>[]): TraceJob[] {
  jobs.sort((a, b) => a.arrivalMs - b.arrivalMs);
  return jobs.map((j, i) => ({ jobId: `job_${String(i).padStart(6, '0')}`, ...j }));
}

/** 1. CI burst: V versions × N specs, each arriving at a uniform time within the first minute (interleaved). */
export function ciBurst(o: WorkloadOptions = {}): Trace {
  const rng = new Rng(o.seed ?? 1);
  const versions = o.smoke ? 6 : 20;
  const specs = o.smoke ? 15 : 50;
  const nSlots = o.smoke ? 8 : 30;
  const jobs: Omit<TraceJob, 'jobId'>[] = [];
  for (let v = 0; v < versions; v++) {
    for (let k = 0; k < specs; k++) {
      jobs.push({ orgId: 'acme', appVersionId: `build-${String(v + 1).padStart(2, '0')}`, priority: 5, target: 'emulator', platform: 'android', arrivalMs: Math.floor(rng.uniform(0, 60 * S)), ...durations(rng, !!o.exactEstimates) });
    }
  }
  return {
    name: 'ci-burst',
    description: `${versions} versions × ${specs} specs within a minute, ${nSlots} slots, install 60 s`,
    jobs: finish(jobs),
    slots: slots(nSlots, 'emulator', 'android', 'lab'),
    installMs: 60 * S,
    policy: {},
  };
}

/**
 * 2. Mixed orgs: CI runs (one new build each, 5–30 specs) arrive as a Poisson process at ~80 % of
 * the slots' capacity for two hours. acme (weight 2) sends 30 % of the work, globex (weight 1) 50 %
 * (it floods beyond its share), initech (weight 1) 20 %; each org mixes priorities.
 */
export function mixedOrgs(o: WorkloadOptions = {}): Trace {
  const rng = new Rng(o.seed ?? 2);
  const nSlots = o.smoke ? 8 : 24;
  const hours = o.smoke ? 0.25 : 2;
  const orgs = [
    { id: 'acme', share: 0.3, priorities: [5, 5, 5, 5, 8] },
    { id: 'globex', share: 0.5, priorities: [3, 3, 5] },
    { id: 'initech', share: 0.2, priorities: [5, 5, 5, 5, 5, 5, 5, 5, 5, 9] },
  ];
  const meanRunWorkS = 17.5 * 70; // specs × mean duration
  const meanGapS = meanRunWorkS / (0.8 * nSlots); // work arrives at 80 % of the slots' capacity
  const jobs: Omit<TraceJob, 'jobId'>[] = [];
  let t = 0;
  let run = 0;
  for (;;) {
    t += rng.exponential(meanGapS) * S;
    if (t > hours * 3600 * S) break;
    const org = orgs[rng.weighted(orgs.map((x) => x.share))]!;
    const version = `${org.id}-build-${++run}`;
    const priority = rng.pick(org.priorities);
    const specs = rng.int(5, 30);
    for (let k = 0; k < specs; k++) {
      jobs.push({ orgId: org.id, appVersionId: version, priority, target: 'emulator', platform: 'android', arrivalMs: Math.floor(t + rng.uniform(0, 5 * S)), ...durations(rng, !!o.exactEstimates) });
    }
  }
  return {
    name: 'mixed-orgs',
    description: `3 orgs (weights acme 2, globex 1, initech 1; work 30/50/20 %), Poisson CI runs at ~80 % load for ${hours} h, ${nSlots} slots`,
    jobs: finish(jobs),
    slots: slots(nSlots, 'emulator', 'android', 'lab'),
    installMs: 60 * S,
    policy: { orgWeights: { acme: 2, globex: 1, initech: 1 } },
  };
}

/** 3. Heavy skew: one version has 80 % of the jobs, the rest are many small versions (2 specs each), all within two minutes. */
export function heavySkew(o: WorkloadOptions = {}): Trace {
  const rng = new Rng(o.seed ?? 3);
  const total = o.smoke ? 100 : 1000;
  const nSlots = o.smoke ? 8 : 30;
  const big = Math.round(total * 0.8);
  const small = (total - big) / 2;
  const jobs: Omit<TraceJob, 'jobId'>[] = [];
  const arrival = () => Math.floor(rng.uniform(0, 120 * S));
  for (let k = 0; k < big; k++) jobs.push({ orgId: 'acme', appVersionId: 'big', priority: 5, target: 'emulator', platform: 'android', arrivalMs: arrival(), ...durations(rng, !!o.exactEstimates) });
  for (let v = 0; v < small; v++) {
    for (let k = 0; k < 2; k++) {
      jobs.push({ orgId: 'acme', appVersionId: `small-${String(v + 1).padStart(3, '0')}`, priority: 5, target: 'emulator', platform: 'android', arrivalMs: arrival(), ...durations(rng, !!o.exactEstimates) });
    }
  }
  return {
    name: 'heavy-skew',
    description: `${total} jobs in 2 min: ${big} of one version, ${small} small versions × 2, ${nSlots} slots`,
    jobs: finish(jobs),
    slots: slots(nSlots, 'emulator', 'android', 'lab'),
    installMs: 60 * S,
    policy: {},
  };
}

/** 4. Cloud: each build runs on BrowserStack (10 slots, account cap 5 sessions) and on 20 lab emulators. */
export function cloud(o: WorkloadOptions = {}): Trace {
  const rng = new Rng(o.seed ?? 4);
  const versions = o.smoke ? 3 : 8;
  const bsSpecs = o.smoke ? 8 : 25;
  const labSpecs = o.smoke ? 12 : 40;
  const account = 'browserstack:acme';
  const jobs: Omit<TraceJob, 'jobId'>[] = [];
  const arrival = () => Math.floor(rng.uniform(0, 120 * S));
  for (let v = 0; v < versions; v++) {
    const appVersionId = `build-${v + 1}`;
    for (let k = 0; k < bsSpecs; k++) jobs.push({ orgId: 'acme', appVersionId, priority: 5, target: 'browserstack', platform: 'android', arrivalMs: arrival(), ...durations(rng, !!o.exactEstimates) });
    for (let k = 0; k < labSpecs; k++) jobs.push({ orgId: 'acme', appVersionId, priority: 5, target: 'emulator', platform: 'android', arrivalMs: arrival(), ...durations(rng, !!o.exactEstimates) });
  }
  return {
    name: 'cloud',
    description: `${versions} builds × (${bsSpecs} BrowserStack + ${labSpecs} lab) specs in 2 min; 10 BrowserStack slots (cap 5) + 20 lab slots`,
    jobs: finish(jobs),
    slots: [...slots(10, 'browserstack', 'android', 'bs', account), ...slots(20, 'emulator', 'android', 'lab')],
    installMs: 60 * S,
    policy: { cloudCaps: { [account]: 5 } },
  };
}

export const WORKLOADS = [ciBurst, mixedOrgs, heavySkew, cloud] as const;
