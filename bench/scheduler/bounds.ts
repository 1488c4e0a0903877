/**
 * Lower bounds any schedule of a trace must respect (issue 3), computed per slot class (a job can
 * only run on slots of its target/platform; a capped cloud account counts for at most its cap), the
 * trace's bound being the largest over classes. With one class this is exactly the issue's:
 *  - makespan M* = max((total work + one install per version) / slots; longest job + one install;
 *    last arrival + its job);
 *  - installs for a makespan M: I(M) = Σ over versions ceil(W_v / (M − t_install));
 *  - max wait: in any schedule the job that ends last starts at ≥ M* − its length − an install, so
 *    some job waits at least M* − (longest job + install) − last arrival (context for the aging goal).
 */
import { classKeyOf } from '../../coordinator/scheduler/index.js';
import type { Trace } from './workloads.js';

interface ClassWork {
  slots: number;
  work: number;
  versions: Map<string, number>;
  longest: number;
  lastArrival: number;
  lastArrivalJob: number;
}

function classes(trace: Trace): Map<string, ClassWork> {
  const caps = trace.policy.cloudCaps ?? {};
  const out = new Map<string, ClassWork>();
  const get = (k: string) => {
    let c = out.get(k);
    if (!c) out.set(k, (c = { slots: 0, work: 0, versions: new Map(), longest: 0, lastArrival: -1, lastArrivalJob: 0 }));
    return c;
  };
  const perAccount = new Map<string, { cls: string; n: number }>();
  for (const s of trace.slots) {
    const k = classKeyOf(s);
    if (s.cloudAccount && caps[s.cloudAccount] !== undefined) {
      const a = perAccount.get(s.cloudAccount) ?? { cls: k, n: 0 };
      a.n++;
      perAccount.set(s.cloudAccount, a);
      get(k);
    } else get(k).slots++;
  }
  for (const [account, a] of perAccount) get(a.cls).slots += Math.min(a.n, caps[account]!);
  for (const j of trace.jobs) {
    const c = get(classKeyOf(j));
    c.work += j.durationMs;
    c.versions.set(j.appVersionId, (c.versions.get(j.appVersionId) ?? 0) + j.durationMs);
    c.longest = Math.max(c.longest, j.durationMs);
    if (j.arrivalMs > c.lastArrival || (j.arrivalMs === c.lastArrival && j.durationMs > c.lastArrivalJob)) {
      c.lastArrival = j.arrivalMs;
      c.lastArrivalJob = j.durationMs;
    }
  }
  return out;
}

/** The makespan bound M* (ms). */
export function makespanBound(trace: Trace): number {
  let m = 0;
  for (const c of classes(trace).values()) {
    if (c.work === 0) continue;
    m = Math.max(m, (c.work + c.versions.size * trace.installMs) / c.slots, c.longest + trace.installMs, c.lastArrival + c.lastArrivalJob);
  }
  return m;
}

/** The install bound I(M) for a makespan M (ms); Infinity when M leaves no time after an install. */
export function installBound(trace: Trace, makespanMs: number): number {
  const room = makespanMs - trace.installMs;
  if (room <= 0) return Infinity;
  let n = 0;
  for (const c of classes(trace).values()) for (const w of c.versions.values()) n += Math.ceil(w / room);
  return n;
}

/** A lower bound on the longest wait of any schedule (ms). */
export function maxWaitBound(trace: Trace): number {
  let w = 0;
  const m = makespanBound(trace);
  for (const c of classes(trace).values()) if (c.work > 0) w = Math.max(w, m - c.longest - trace.installMs - c.lastArrival);
  return Math.max(0, w);
}

/** The makespan/install trade-off: I(M) at multiples of M*, and the least M where one install per version suffices. */
export function tradeoffCurve(trace: Trace, factors: readonly number[] = [1, 1.05, 1.1, 1.2, 1.5, 2]): { points: Array<{ factor: number; makespanMs: number; installs: number }>; oneInstallPerVersionMs: number } {
  const m = makespanBound(trace);
  let longestVersion = 0;
  for (const c of classes(trace).values()) for (const w of c.versions.values()) longestVersion = Math.max(longestVersion, w);
  return {
    points: factors.map((f) => ({ factor: f, makespanMs: Math.round(m * f), installs: installBound(trace, m * f) })),
    oneInstallPerVersionMs: longestVersion + trace.installMs,
  };
}
