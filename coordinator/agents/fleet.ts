/** The connected fleet: agents, their slots, and what each slot holds. In memory; rebuilt as agents (re)register. */
import type { Socket } from 'socket.io';
import type { AgentToCoordinator, AgentView, CoordinatorToAgent, SlotInfo } from '../../shared/index.js';
import type { SlotState } from '../scheduler/index.js';

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
