/**
 * Why a queued job is not running yet, from the same inputs the round uses (pure). Used for
 * `waiting_reason` in the API and `qgjob status`. Cost: one round and one round view (shared by every
 * job a `waitExplainer` explains) plus O(lanes + slots of the job's class) counting per job.
 */
import { classKeyOf } from './job-queues.js';
import { durationOf, resolvePolicy, weightOf } from './policy.js';
import { buildRoundView, runningOf, type RoundView } from './round-view.js';
import { indexOf, scheduleRound } from './schedule-round.js';
import type { Decision, QueuedJob, SchedulerInput, SchedulerPolicy, SchedulerRound, WaitExplanation } from './types.js';

const seconds = (ms: number): string => `${Math.max(0, Math.round(ms / 1000))} s`;

/**
 * Explains why `job` (queued in `input.queues`) waits.
 * @example explainWaiting(job, { queues, slots, nowMs }).message // → "all 4 emulator/android slot(s) are busy; 12 job(s) ahead of it"
 */
export function explainWaiting(job: QueuedJob, input: SchedulerInput): WaitExplanation {
  return waitExplainer(input)(job);
}

/**
 * An `explainWaiting` for many jobs of the same moment (a run's view, a list): the round and its
 * view are computed at most once and shared, so explaining n jobs costs one round, not n.
 * Valid only while `input` does not change.
 * @example const why = waitExplainer(input); for (const j of queued) console.log(why(j).message);
 */
export function waitExplainer(input: SchedulerInput): (job: QueuedJob) => WaitExplanation {
  const policy = resolvePolicy(input.policy);
  const slots = indexOf(input.slots);
  let round: { decisions: Map<string, Decision>; idle: SchedulerRound['idle'] } | undefined;
  const roundOnce = () => {
    if (!round) {
      const r = scheduleRound({ ...input, slots });
      round = { decisions: new Map(r.decisions.map((d) => [d.jobId, d])), idle: r.idle };
    }
    return round;
  };
  let view: RoundView | undefined;
  const viewOnce = () => (view ??= buildRoundView(input.queues, slots, input.nowMs, policy));
  return (job) => explainOne(job, input, policy, slots, roundOnce, viewOnce);
}

function explainOne(
  job: QueuedJob,
  input: SchedulerInput,
  policy: SchedulerPolicy,
  slots: ReturnType<typeof indexOf>,
  roundOnce: () => { decisions: Map<string, Decision>; idle: SchedulerRound['idle'] },
  viewOnce: () => RoundView,
): WaitExplanation {
  const now = input.nowMs;
  const classKey = classKeyOf(job);
  const lanes = input.queues.lanesOf(classKey);
  let higherPriorityAhead = 0;
  let ahead = 0;
  if (lanes) {
    for (const lane of lanes.lanes) {
      if (lane.orgId === job.orgId) higherPriorityAhead += lane.countAbove(job.priority);
      ahead += lane.countBefore(job);
    }
  }
  const out = (code: WaitExplanation['code'], message: string): WaitExplanation => ({ code, message, higherPriorityAhead, ahead });
  const behind = `${ahead} job(s) ahead of it${higherPriorityAhead > 0 ? `, ${higherPriorityAhead} of them of higher priority in org ${job.orgId}` : ''}`;

  const matching = (slots.classOf(classKey)?.records ?? []).map((r) => r.state);
  if (matching.length === 0) return out('no_matching_slot', `no connected slot serves ${classKey}`);
  const online = matching.filter((s) => s.online);
  if (online.length === 0) return out('slots_offline', `all ${matching.length} ${classKey} slot(s) are offline`);

  const round = roundOnce();
  const mine = round.decisions.get(job.jobId);
  if (mine) return out('dispatching', `being dispatched to ${mine.slotKey}: ${mine.why}`);

  // Cloud caps: every online slot of the class belongs to an account at its cap.
  const view = viewOnce();
  const capped = online.every((s) => {
    const cap = s.cloudAccount === undefined ? undefined : policy.cloudCaps[s.cloudAccount];
    return cap !== undefined && (view.runningByAccount.get(s.cloudAccount!) ?? 0) >= cap;
  });
  if (capped) {
    const accounts = [...new Set(online.map((s) => s.cloudAccount!))];
    const parts = accounts.map((a) => `${a}: ${view.runningByAccount.get(a) ?? 0} of ${policy.cloudCaps[a]} sessions in use`);
    return out('cap_reached', `cloud session cap reached (${parts.join('; ')}); held until a session ends; ${behind}`);
  }

  const aged = now - job.submittedAtMs > policy.agingBoundMs;
  const free = online.filter((s) => s.free).length;
  const allBusy = free === 0;
  if (aged) {
    return out('aged', `queued ${seconds(now - job.submittedAtMs)}, past the aging bound of ${seconds(policy.agingBoundMs)}: it goes to the next free ${classKey} slot${allBusy ? `; all ${online.length} are busy` : ''}`);
  }

  // Held for a warm slot: its version's free or soon-free slots outnumber the jobs of that version ahead of it.
  const version = view.classes.get(classKey)?.versions.get(job.appVersionId);
  if (version) {
    let position = 0;
    for (const lane of version.lanes) position += lane.countBefore(job);
    if (position < version.holdCap) {
      let soon: { slotKey: string; untilMs: number } | undefined;
      for (const s of online) {
        if (s.free || (s.runningAppVersionId ?? s.installedAppVersionId) !== job.appVersionId || s.busyUntilMs == null) continue;
        if (!soon || s.busyUntilMs < soon.untilMs) soon = { slotKey: s.slotKey, untilMs: s.busyUntilMs };
      }
      const where = soon ? `slot ${soon.slotKey}, expected free in ${seconds(soon.untilMs - now)}` : 'a free slot that has it';
      return out(
        'held_for_affinity',
        `held for affinity: build ${job.appVersionId} is installed on ${where} (hold bound ${seconds(version.holdBoundMs)} for a job of ${seconds(durationOf(policy, job))}); ${behind}`,
      );
    }
  }
  if (allBusy) return out('slots_busy', `all ${online.length} ${classKey} slot(s) are busy; ${behind}`);
  if (higherPriorityAhead > 0) return out('behind_higher_priority', `behind ${higherPriorityAhead} job(s) of higher priority in org ${job.orgId}; ${behind}`);

  // Fair share: another org with queued work in the class is further below its weighted share.
  const cls = view.classes.get(classKey);
  if (cls && lanes) {
    const load = (org: string) => runningOf(cls, org) / weightOf(policy, org);
    const others = new Set<string>();
    for (const lane of lanes.lanes) if (lane.orgId !== job.orgId) others.add(lane.orgId);
    const under = [...others].filter((o) => load(o) < load(job.orgId));
    if (under.length > 0) {
      return out(
        'fair_share',
        `fair share: org ${job.orgId} runs ${runningOf(cls, job.orgId)} job(s) at weight ${weightOf(policy, job.orgId)}, more than its share while ${under.join(', ')} wait; ${behind}`,
      );
    }
  }
  const idle = round.idle[0];
  if (idle) return out(idle.code, `${idle.why}; ${behind}`);
  return out('dispatching', `waiting for dispatch; ${behind}`);
}
