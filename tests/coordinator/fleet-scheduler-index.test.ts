/**
 * The fleet keeps the scheduler's slot index: after random changes to agents and slots (jobs held
 * and freed, builds installed, health, draining, disconnects, re-registrations with other slots,
 * jobs starting or ending while their slot is still held, jobs not yet assigned whose estimate
 * follows the clock), `syncIndex` gives the index exactly the slot states the dispatcher derived
 * from the whole fleet before each round, and re-indexes only the slots that changed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../bench/scheduler/rng.js';
import { AgentEntry, Fleet, SlotEntry, type AgentSocket, type RunningJob, slotKeyOf } from '../../coordinator/agents/fleet.js';
import type { SlotState } from '../../coordinator/scheduler/index.js';
import type { Platform, SlotHealth, Target } from '../../shared/index.js';

/** A job as the service holds it: replaced, never changed in place. */
interface Job {
  readonly orgId: string;
  readonly appVersionId: string;
  readonly startedAtMs: number | null;
  readonly assignedAtMs: number | null;
}

const CONNECTED = {} as AgentSocket; // the fleet only checks that an agent has a socket
const NOW = 1_000_000;

/** What a held slot runs, as the dispatcher derives it from the job (its start, or its assignment and an install, plus a typical run; the clock when neither). */
const describer = (clock: { nowMs: number }) => {
  const out: RunningJob = { orgId: '', appVersionId: '', busyUntilMs: 0 };
  return (_slot: SlotEntry, job: Job): RunningJob => {
    out.orgId = job.orgId;
    out.appVersionId = job.appVersionId;
    out.busyUntilMs = (job.startedAtMs ?? (job.assignedAtMs === null ? clock.nowMs : job.assignedAtMs + 60_000)) + 60_000;
    out.volatile = job.startedAtMs === null && job.assignedAtMs === null;
    return out;
  };
};

/** The reference: every slot's state built from scratch, as the dispatcher did before the index. */
function fromScratch(fleet: Fleet, jobs: Map<string, Job>, describe: (s: SlotEntry, job: Job) => RunningJob): SlotState[] {
  return fleet.slotStates().map((st) => {
    if (st.free) return st;
    const entry = fleet.slot(st.slotKey)!;
    const job = entry.jobId ? jobs.get(entry.jobId) : undefined;
    if (!job) return st;
    const r = describe(entry, job);
    return { ...st, runningOrgId: r.orgId, runningAppVersionId: r.appVersionId, busyUntilMs: r.busyUntilMs };
  });
}

/** The reference for `cloudCaps`: the smallest cap each account's slots report, over the whole fleet. */
function capsFromScratch(fleet: Fleet): Record<string, number> {
  const caps: Record<string, number> = {};
  for (const a of fleet.agents.values()) {
    for (const s of a.slots.values()) {
      const { cloud_account: account, cloud_cap: cap } = s.info;
      if (account && cap) caps[account] = Math.min(caps[account] ?? cap, cap);
    }
  }
  return caps;
}

const byKey = (states: readonly SlotState[]) => Object.fromEntries(states.map((s) => [s.slotKey, Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined))]));

function register(fleet: Fleet, rng: Rng, agentId: string, slotIds: string[]): AgentEntry {
  const previous = fleet.agents.get(agentId);
  const slots = new Map<string, SlotEntry>();
  for (const slotId of slotIds) {
    const before = previous?.slots.get(slotId);
    const cloud = rng.next() < 0.2;
    const target: Target = cloud ? 'browserstack' : rng.pick(['emulator', 'device'] as const);
    const platform: Platform = target === 'device' ? 'ios' : 'android';
    slots.set(
      slotId,
      new SlotEntry({
        key: slotKeyOf(agentId, slotId),
        agentId,
        info: {
          slot_id: slotId,
          target,
          platform,
          device_name: 'd',
          endpoint: 'http://127.0.0.1:1',
          installed_app_version_id: rng.next() < 0.3 ? null : rng.pick(['A', 'B', 'C']),
          health: 'ok',
          health_reason: null,
          cloud_account: cloud ? rng.pick(['bs:a', 'bs:b']) : null,
          cloud_cap: cloud ? rng.pick([5, 5, 3]) : null,
        },
        attemptId: before?.attemptId ?? null,
        jobId: before?.jobId ?? null,
      }),
    );
  }
  const agent = new AgentEntry({ agentId, name: agentId, version: 't', socket: CONNECTED, connectedAtMs: NOW, lastSeenMs: NOW, slots });
  fleet.agents.set(agentId, agent);
  return agent;
}

test('after random fleet changes, syncIndex holds what a from-scratch pass over the fleet gives', () => {
  let reindexed = 0;
  let unchanged = 0;
  /** `describe` calls, and held slots with an active job summed over the syncs (what a pass over every slot would describe). */
  let described = 0;
  let heldSlots = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const rng = new Rng(500 + seed);
    const fleet = new Fleet();
    const jobs = new Map<string, Job>();
    const clock = { nowMs: NOW };
    const describe = describer(clock);
    const counted = (slot: SlotEntry, job: Job): RunningJob => {
      described++;
      return describe(slot, job);
    };
    const jobOf = (jobId: string) => jobs.get(jobId);
    const agents = ['a1', 'a2', 'a3', 'a4'];
    for (const a of agents.slice(0, 2)) register(fleet, rng, a, ['s1', 's2', 's3']);
    let jobSeq = 0;
    for (let step = 0; step < 200; step++) {
      const r = rng.next();
      const agent = rng.pick([...fleet.agents.values()]);
      const slot = rng.pick([...agent.slots.values()]);
      if (r < 0.25) {
        // Hold a job (reserved, then an attempt), or free the slot.
        if (slot.attemptId === null) {
          // Sometimes a job another slot still holds (it runs again here while the old slot is being stopped).
          const holding = [...fleet.agents.values()].flatMap((a) => [...a.slots.values()]).filter((s) => s.jobId !== null && jobs.has(s.jobId));
          if (holding.length > 0 && rng.next() < 0.15) {
            const jobId = rng.pick(holding).jobId!;
            slot.attemptId = `att2-${jobId}`;
            slot.jobId = jobId;
            jobs.set(jobId, { ...jobs.get(jobId)!, assignedAtMs: NOW + step * 1000, startedAtMs: null });
            fleet.jobChanged(jobId);
          } else {
            const jobId = `job${jobSeq++}`;
            // Mostly assigned; some still being written (no assignment yet: their estimate follows the clock); some not active.
            const r2 = rng.next();
            if (r2 < 0.8) jobs.set(jobId, { orgId: rng.pick(['acme', 'globex']), appVersionId: rng.pick(['A', 'B', 'C']), startedAtMs: null, assignedAtMs: r2 < 0.7 ? NOW + step * 1000 : null });
            slot.attemptId = `att-${jobId}`;
            slot.jobId = jobId;
          }
        } else {
          slot.attemptId = null;
          slot.jobId = null;
        }
      } else if (r < 0.35) {
        const job = slot.jobId ? jobs.get(slot.jobId) : undefined;
        if (job && rng.next() < 0.7) jobs.set(slot.jobId!, { ...job, startedAtMs: NOW + step * 1000 }); // started: the estimate moves
        else if (slot.jobId) jobs.delete(slot.jobId); // ended (e.g. cancelled) while the agent still stops it
        // The job service tells the dispatcher, which tells the fleet.
        if (slot.jobId) fleet.jobChanged(slot.jobId);
      } else if (r < 0.45) slot.info = { ...slot.info, installed_app_version_id: rng.pick(['A', 'B', 'C', null]) };
      else if (r < 0.55) slot.info = { ...slot.info, health: rng.pick(['ok', 'ok', 'offline', 'quarantined'] as SlotHealth[]) };
      else if (r < 0.6) agent.draining = !agent.draining;
      else if (r < 0.68) agent.socket = agent.socket ? null : CONNECTED;
      else if (r < 0.78) {
        // (Re-)registration: new entries, maybe other slots.
        register(fleet, rng, rng.pick(agents), ['s1', 's2', 's3', 's4'].filter(() => rng.next() < 0.7).concat('s1'));
      } else if (r < 0.8 && fleet.agents.size > 1) fleet.agents.delete(agent.agentId);
      clock.nowMs += 500;
      const before = new Map(fleet.index.states().map((s) => [s.slotKey, s]));
      const index = fleet.syncIndex(jobOf, counted);
      assert.is(index, fleet.index);
      assert.equal(byKey(index.states()), byKey(fromScratch(fleet, jobs, describe)), `seed ${seed}, step ${step}`);
      assert.equal({ ...fleet.cloudCaps() }, capsFromScratch(fleet), `caps, seed ${seed}, step ${step}`);
      for (const a of fleet.agents.values()) for (const sl of a.slots.values()) if (sl.attemptId !== null && sl.jobId !== null && jobs.has(sl.jobId)) heldSlots++;
      for (const s of index.states()) {
        if (before.get(s.slotKey) === s) unchanged++;
        else reindexed++;
      }
    }
  }
  // Most slots did not change in a step and kept their stored state (no re-indexing), and only
  // the slots noted as changed were described again (not every held slot at every sync).
  assert.ok(unchanged > 5 * reindexed, `${unchanged} kept, ${reindexed} re-indexed`);
  assert.ok(described * 3 < heldSlots, `${described} descriptions for ${heldSlots} held slots`);
});

test('while agents only join, the index keeps the fleet order (the order a round serves free slots in)', () => {
  const rng = new Rng(9);
  const fleet = new Fleet();
  const describe = describer({ nowMs: NOW });
  for (let i = 0; i < 6; i++) {
    register(fleet, rng, `agent-${i}`, ['s1', 's2']);
    fleet.syncIndex(() => undefined, describe);
  }
  assert.equal(
    fleet.index.states().map((s) => s.slotKey),
    fleet.slotStates().map((s) => s.slotKey),
  );
});

test.run();
