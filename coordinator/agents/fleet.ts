/** The connected fleet: agents, their slots, and what each slot holds. In memory; rebuilt as agents (re)register. */
import type { Socket } from 'socket.io';
import type { AgentToCoordinator, AgentView, CoordinatorToAgent, SlotInfo } from '../../shared/index.js';
import { SlotIndex, type SlotState } from '../scheduler/index.js';

export type AgentSocket = Socket<AgentToCoordinator, CoordinatorToAgent>;

export const slotKeyOf = (agentId: string, slotId: string): string => `${agentId}/${slotId}`;

/** What a held slot runs, as the scheduler sees it (see `SlotState`). */
export interface RunningJob {
  orgId: string;
  appVersionId: string;
  /** When the slot is expected to be free again (epoch ms). */
  busyUntilMs: number;
  /** True when `busyUntilMs` was derived from the time of this round rather than from the job (it is derived again next round). */
  volatile?: boolean;
}

/**
 * What the fleet notes as its agents and slots change, so `syncIndex` re-derives only those slots:
 * slots changed since the last sync, keys of slots that left the fleet, slots whose description
 * follows the clock, and the slots holding each job (for `jobChanged`).
 */
export class FleetChanges {
  readonly changed = new Set<SlotEntry>();
  readonly removed = new Set<string>();
  readonly volatile = new Set<SlotEntry>();
  readonly byJob = new Map<string, SlotEntry | SlotEntry[]>();

  holds(jobId: string, slot: SlotEntry): void {
    const had = this.byJob.get(jobId);
    if (had === undefined) this.byJob.set(jobId, slot);
    else if (Array.isArray(had)) {
      if (!had.includes(slot)) had.push(slot);
    } else if (had !== slot) this.byJob.set(jobId, [had, slot]);
  }

  released(jobId: string, slot: SlotEntry): void {
    const had = this.byJob.get(jobId);
    if (had === slot) this.byJob.delete(jobId);
    else if (Array.isArray(had)) {
      const i = had.indexOf(slot);
      if (i >= 0) had.splice(i, 1);
      if (had.length === 1) this.byJob.set(jobId, had[0]!);
    }
  }
}

/**
 * A slot of an agent and what it holds. Its info, attempt and job are accessors: while its agent
 * is in a fleet, setting them tells the fleet (so the next `syncIndex` re-derives this slot only).
 */
export class SlotEntry {
  readonly key: string;
  readonly agentId: string;
  /** Its id among its agent's slots (the key's part after the agent id). */
  readonly slotId: string;
  /** Installs this slot reported since the coordinator started. */
  installs: number;
  #info: SlotInfo;
  #attemptId: string | null;
  #jobId: string | null;
  /** The fleet's change notes while the slot's agent is in the fleet; null otherwise (set by the fleet only). */
  changes: FleetChanges | null = null;

  constructor(init: { key?: string; agentId: string; info: SlotInfo; attemptId?: string | null; jobId?: string | null; installs?: number }) {
    this.key = init.key ?? slotKeyOf(init.agentId, init.info.slot_id);
    this.agentId = init.agentId;
    this.slotId = this.key.slice(init.agentId.length + 1);
    this.#info = init.info;
    this.#attemptId = init.attemptId ?? null;
    this.#jobId = init.jobId ?? null;
    this.installs = init.installs ?? 0;
  }

  /** What the agent reported of the slot (replaced, never changed in place). */
  get info(): SlotInfo {
    return this.#info;
  }
  set info(v: SlotInfo) {
    if (v === this.#info) return;
    this.#info = v;
    this.changes?.changed.add(this);
  }

  /** The attempt the slot holds (reserved, assigned or running); null when idle. */
  get attemptId(): string | null {
    return this.#attemptId;
  }
  set attemptId(v: string | null) {
    if (v === this.#attemptId) return;
    this.#attemptId = v;
    this.changes?.changed.add(this);
  }

  get jobId(): string | null {
    return this.#jobId;
  }
  set jobId(v: string | null) {
    if (v === this.#jobId) return;
    const c = this.changes;
    if (c) {
      if (this.#jobId !== null) c.released(this.#jobId, this);
      if (v !== null) c.holds(v, this);
      c.changed.add(this);
    }
    this.#jobId = v;
  }
}

/** An agent in the fleet. Its socket and draining flag are accessors: setting them tells the fleet about each of its slots. */
export class AgentEntry {
  readonly agentId: string;
  name: string;
  version: string;
  connectedAtMs: number;
  lastSeenMs: number;
  /** Its slots, fixed when the entry is made (a re-registration makes a new entry). */
  readonly slots: ReadonlyMap<string, SlotEntry>;
  /** The attempts the agent said it runs in its last register or heartbeat. */
  lastRunning: Set<string>;
  #socket: AgentSocket | null;
  #draining: boolean;
  changes: FleetChanges | null = null;

  constructor(init: {
    agentId: string;
    name: string;
    version: string;
    socket: AgentSocket | null;
    connectedAtMs: number;
    lastSeenMs: number;
    slots: ReadonlyMap<string, SlotEntry>;
    lastRunning?: Set<string>;
    draining?: boolean;
  }) {
    this.agentId = init.agentId;
    this.name = init.name;
    this.version = init.version;
    this.#socket = init.socket;
    this.connectedAtMs = init.connectedAtMs;
    this.lastSeenMs = init.lastSeenMs;
    this.slots = init.slots;
    this.lastRunning = init.lastRunning ?? new Set();
    this.#draining = init.draining ?? false;
  }

  get socket(): AgentSocket | null {
    return this.#socket;
  }
  set socket(v: AgentSocket | null) {
    if (v === this.#socket) return;
    const online = (this.#socket !== null) !== (v !== null);
    this.#socket = v;
    if (online) this.#touch();
  }

  /** The agent is shutting down: its slots take no new jobs. */
  get draining(): boolean {
    return this.#draining;
  }
  set draining(v: boolean) {
    if (v === this.#draining) return;
    this.#draining = v;
    this.#touch();
  }

  #touch(): void {
    const c = this.changes;
    if (c) for (const s of this.slots.values()) c.changed.add(s);
  }
}

/** The fleet's agents by id: putting an agent in (or taking it out) tells the fleet about its slots. */
class FleetAgents extends Map<string, AgentEntry> {
  constructor(private readonly changes: FleetChanges) {
    super();
  }

  override set(agentId: string, agent: AgentEntry): this {
    const old = this.get(agentId);
    if (old !== agent) {
      if (old) this.#detach(old);
      agent.changes = this.changes;
      for (const s of agent.slots.values()) {
        s.changes = this.changes;
        if (s.jobId !== null) this.changes.holds(s.jobId, s);
        this.changes.changed.add(s);
      }
    }
    return super.set(agentId, agent);
  }

  override delete(agentId: string): boolean {
    const old = this.get(agentId);
    if (old) this.#detach(old);
    return super.delete(agentId);
  }

  override clear(): void {
    for (const a of this.values()) this.#detach(a);
    super.clear();
  }

  #detach(agent: AgentEntry): void {
    agent.changes = null;
    for (const s of agent.slots.values()) {
      if (s.jobId !== null) this.changes.released(s.jobId, s);
      s.changes = null;
      this.changes.changed.delete(s);
      this.changes.volatile.delete(s);
      this.changes.removed.add(s.key);
    }
  }
}

export class Fleet {
  readonly #changes = new FleetChanges();
  /** The agents by id. Put a new entry in on (re-)registration; changes to entries in it are noted for `syncIndex`. */
  readonly agents: Map<string, AgentEntry> = new FleetAgents(this.#changes);
  /** The scheduler's index of every slot, brought up to date by `syncIndex` before each round (nothing else changes it). */
  readonly index = new SlotIndex();
  /** Per slot key, the cloud account and cap it counted for at the last sync (slots with both only). */
  readonly #counted = new Map<string, { account: string; cap: number }>();
  /** Per cloud account, how many slots reported each cap. */
  readonly #capCounts = new Map<string, Map<number, number>>();
  /** The smallest cap per account, as of the last sync (replaced, not changed, when a cap changes). */
  #caps: Readonly<Record<string, number>> = Object.freeze({});
  #capsStale = false;

  slot(key: string): SlotEntry | undefined {
    const i = key.indexOf('/');
    return this.agents.get(key.slice(0, i))?.slots.get(key.slice(i + 1));
  }

  /** Every slot as the scheduler sees it. */
  slotStates(): SlotState[] {
    const out: SlotState[] = [];
    for (const a of this.agents.values()) {
      for (const s of a.slots.values()) {
        out.push({
          slotKey: s.key,
          target: s.info.target,
          platform: s.info.platform,
          installedAppVersionId: s.info.installed_app_version_id,
          free: s.attemptId === null,
          online: a.socket !== null && !a.draining && s.info.health === 'ok',
          ...(s.info.cloud_account ? { cloudAccount: s.info.cloud_account } : {}),
        });
      }
    }
    return out;
  }

  /**
   * The job `jobId` changed (its object was replaced, or it ended): the slots holding it are
   * described again at the next `syncIndex`. The job service tells the dispatcher, which tells the fleet.
   */
  jobChanged(jobId: string): void {
    const held = this.#changes.byJob.get(jobId);
    if (held === undefined) return;
    if (Array.isArray(held)) for (const s of held) this.#changes.changed.add(s);
    else this.#changes.changed.add(held);
  }

  /**
   * Brings `index` up to date with the agents' slots (the same states as `slotStates`, plus what a
   * held slot runs). `jobOf(jobId)` gives the job a held slot holds; `describe(slot, job)` says what
   * the slot runs, or undefined. Only the slots noted since the last sync are derived again: those
   * whose info, attempt or job id was set, whose agent connected, disconnected, started draining,
   * joined or left the fleet, whose job changed (`jobChanged`), and those whose last description was
   * `volatile` (it followed the clock). So a sync costs O(slots changed), not O(slots); a changed
   * slot is re-indexed (its counts moved, not recounted); slots no longer in the fleet are dropped.
   * `describe` may fill and return the same object every call.
   */
  syncIndex<J extends object>(jobOf: (jobId: string) => J | undefined, describe: (slot: SlotEntry, job: J) => RunningJob | undefined): SlotIndex {
    const index = this.index;
    const ch = this.#changes;
    if (ch.removed.size > 0) {
      for (const key of ch.removed) {
        if (this.slot(key)) continue; // re-registered: its new entry is among the changed ones
        index.delete(key);
        this.#count(key, null, 0);
      }
      ch.removed.clear();
    }
    if (ch.volatile.size > 0) {
      for (const s of ch.volatile) ch.changed.add(s);
      ch.volatile.clear();
    }
    if (ch.changed.size === 0) return index;
    for (const s of ch.changed) {
      const a = this.agents.get(s.agentId);
      if (a === undefined || a.slots.get(s.slotId) !== s) continue; // left the fleet (its key is in `removed`, handled above)
      const info = s.info;
      const online = a.socket !== null && !a.draining && info.health === 'ok';
      const job = s.attemptId === null || s.jobId === null ? undefined : jobOf(s.jobId);
      const running = job === undefined ? undefined : describe(s, job);
      const cloudAccount = info.cloud_account ? info.cloud_account : undefined;
      index.set({
        slotKey: s.key,
        target: info.target,
        platform: info.platform,
        installedAppVersionId: info.installed_app_version_id,
        free: s.attemptId === null,
        online,
        ...(cloudAccount !== undefined ? { cloudAccount } : {}),
        ...(running ? { runningOrgId: running.orgId, runningAppVersionId: running.appVersionId, busyUntilMs: running.busyUntilMs } : {}),
      });
      if (running?.volatile === true) ch.volatile.add(s);
      this.#count(s.key, info.cloud_account && info.cloud_cap ? info.cloud_account : null, info.cloud_cap ?? 0);
    }
    ch.changed.clear();
    return index;
  }

  /** Counts slot `key` for `account`'s cap `cap` (null: for none) instead of what it counted for. */
  #count(key: string, account: string | null, cap: number): void {
    const was = this.#counted.get(key);
    if (was === undefined ? account === null : was.account === account && was.cap === cap) return;
    if (was !== undefined) {
      const counts = this.#capCounts.get(was.account)!;
      const n = counts.get(was.cap)! - 1;
      if (n === 0) counts.delete(was.cap);
      else counts.set(was.cap, n);
      if (counts.size === 0) this.#capCounts.delete(was.account);
      this.#capsStale = true;
    }
    if (account === null) {
      this.#counted.delete(key);
      return;
    }
    this.#counted.set(key, { account, cap });
    let counts = this.#capCounts.get(account);
    if (!counts) this.#capCounts.set(account, (counts = new Map()));
    counts.set(cap, (counts.get(cap) ?? 0) + 1);
    this.#capsStale = true;
  }

  /**
   * Parallel-session caps per cloud account, as agents reported them (the smallest wins), as of the
   * last `syncIndex`. The same object while no cap changed (a new one when one does: never changed in place).
   */
  cloudCaps(): Readonly<Record<string, number>> {
    if (this.#capsStale) {
      const caps: Record<string, number> = {};
      for (const [account, counts] of this.#capCounts) {
        let min = Infinity;
        for (const cap of counts.keys()) if (cap < min) min = cap;
        caps[account] = min;
      }
      this.#caps = Object.freeze(caps);
      this.#capsStale = false;
    }
    return this.#caps;
  }

  view(): AgentView[] {
    return [...this.agents.values()].map((a) => ({
      agent_id: a.agentId,
      name: a.name,
      version: a.version,
      connected: a.socket !== null,
      connected_at: new Date(a.connectedAtMs).toISOString(),
      last_seen_at: new Date(a.lastSeenMs).toISOString(),
      slots: [...a.slots.values()].map((s) => ({
        slot_id: s.info.slot_id,
        target: s.info.target,
        platform: s.info.platform,
        device_name: s.info.device_name,
        endpoint: s.info.endpoint,
        installed_app_version_id: s.info.installed_app_version_id,
        state:
          a.socket === null
            ? ('offline' as const)
            : s.attemptId !== null
              ? ('busy' as const)
              : s.info.health !== 'ok'
                ? s.info.health
                : a.draining
                  ? ('draining' as const)
                  : ('idle' as const),
        health_reason: a.socket === null ? 'the agent is disconnected' : s.info.health_reason,
        job_id: s.jobId,
        installs: s.installs,
      })),
    }));
  }
}
