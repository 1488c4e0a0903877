/** The connected fleet: agents, their slots, and what each slot holds. In memory; rebuilt as agents (re)register. */
import type { Socket } from 'socket.io';
import type { AgentToCoordinator, AgentView, CoordinatorToAgent, SlotInfo } from '../../shared/index.js';
import { SlotIndex, type SlotState } from '../scheduler/index.js';

export type AgentSocket = Socket<AgentToCoordinator, CoordinatorToAgent>;

export interface SlotEntry {
  key: string;
  agentId: string;
  info: SlotInfo;
  /** The attempt the slot holds (reserved, assigned or running); null when idle. */
  attemptId: string | null;
  jobId: string | null;
  /** Installs this slot reported since the coordinator started. */
  installs: number;
  /** What `Fleet.syncIndex` last derived the slot's state from (so an unchanged slot costs a few comparisons). */
  synced?: SyncedFrom;
}

/** The inputs of a slot's indexed state: its info, attempt, agent state and job object as last synced. */
interface SyncedFrom {
  info: SlotInfo;
  attemptId: string | null;
  online: boolean;
  job: object | undefined;
  /** The description depended on the time of the round: derive it again next time. */
  volatile: boolean;
}

/** What a held slot runs, as the scheduler sees it (see `SlotState`). */
export interface RunningJob {
  orgId: string;
  appVersionId: string;
  /** When the slot is expected to be free again (epoch ms). */
  busyUntilMs: number;
  /** True when `busyUntilMs` was derived from the time of this round rather than from the job (it is derived again next round). */
  volatile?: boolean;
}

export interface AgentEntry {
  agentId: string;
  name: string;
  version: string;
  socket: AgentSocket | null;
  connectedAtMs: number;
  lastSeenMs: number;
  slots: Map<string, SlotEntry>;
  /** The attempts the agent said it runs in its last register or heartbeat. */
  lastRunning: Set<string>;
  /** The agent is shutting down: its slots take no new jobs. */
  draining: boolean;
}

export const slotKeyOf = (agentId: string, slotId: string): string => `${agentId}/${slotId}`;

export class Fleet {
  readonly agents = new Map<string, AgentEntry>();
  /** The scheduler's index of every slot, brought up to date by `syncIndex` before each round (nothing else changes it). */
  readonly index = new SlotIndex();

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
   * Brings `index` up to date with the agents' slots (the same states as `slotStates`, plus what a
   * held slot runs). `jobOf(jobId)` gives the job a held slot holds: an object that is replaced,
   * never changed in place, when the job changes (as the job service's rows are; slot infos are
   * replaced too). `describe(slot, job)` says what the slot runs, or undefined; it is called only
   * when the slot's info, attempt, agent state or job object changed since the last sync (or its
   * last description was `volatile`). So an unchanged slot costs a lookup and a few comparisons,
   * and allocates nothing; a changed one is re-indexed (its counts moved, not recounted); slots no
   * longer in the fleet are dropped. `describe` may fill and return the same object every call.
   */
  syncIndex<J extends object>(jobOf: (jobId: string) => J | undefined, describe: (slot: SlotEntry, job: J) => RunningJob | undefined): SlotIndex {
    const index = this.index;
    let seen = 0;
    for (const a of this.agents.values()) {
      const connected = a.socket !== null && !a.draining;
      for (const s of a.slots.values()) {
        seen++;
        const info = s.info;
        const online = connected && info.health === 'ok';
        const job = s.attemptId === null || s.jobId === null ? undefined : jobOf(s.jobId);
        let from = s.synced;
        if (from !== undefined && !from.volatile && from.info === info && from.attemptId === s.attemptId && from.online === online && from.job === job) continue;
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
        if (from === undefined) s.synced = from = { info, attemptId: s.attemptId, online, job, volatile: false };
        else {
          from.info = info;
          from.attemptId = s.attemptId;
          from.online = online;
          from.job = job;
        }
        from.volatile = running?.volatile === true;
      }
    }
    if (index.size !== seen) for (const st of index.states()) if (!this.slot(st.slotKey)) index.delete(st.slotKey);
    return index;
  }

  /** Parallel-session caps per cloud account, as agents reported them (the smallest wins). */
  cloudCaps(): Record<string, number> {
    const caps: Record<string, number> = {};
    for (const a of this.agents.values()) {
      for (const s of a.slots.values()) {
        const { cloud_account: account, cloud_cap: cap } = s.info;
        if (account && cap) caps[account] = Math.min(caps[account] ?? cap, cap);
      }
    }
    return caps;
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
