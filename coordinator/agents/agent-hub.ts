/**
 * The `/agents` namespace: agents register their slots, renew leases with heartbeats, report
 * installs, stream log chunks and finish attempts. Every payload is parsed with the shared
 * schemas; a message for an attempt that is no longer current is refused with `stale_attempt`.
 */
import type { Namespace } from 'socket.io';
import type { z } from 'zod';
import {
  type Ack,
  type AgentToCoordinator,
  type CoordinatorToAgent,
  FinishedPayload,
  HeartbeatPayload,
  LogChunkPayload,
  QgError,
  RegisterPayload,
  SlotUpdatePayload,
  StartedPayload,
  fieldErrors,
} from '../../shared/index.js';
import type { JobService } from '../jobs/job-service.js';
import type { Dispatcher } from './dispatcher.js';
import { type AgentEntry, type AgentSocket, type Fleet, type SlotEntry, slotKeyOf } from './fleet.js';

export interface AgentHubDeps {
  service: JobService;
  fleet: Fleet;
  dispatcher: Dispatcher;
  heartbeatIntervalMs: number;
  now: () => number;
  log: (line: string) => void;
}

const refuse = (code: QgError['code'], message: string): Ack<never> => ({ ok: false, error: { code, message } });

function parse<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const fields = fieldErrors(r.error.issues);
    throw new QgError('validation_failed', `invalid payload: ${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('; ')}`, fields);
  }
  return r.data;
}

/** Wraps a handler: parse errors and store failures become error acks, never a crash or a silent drop. */
function handle<P, R extends object>(
  log: (line: string) => void,
  fn: (payload: P) => Promise<Ack<R>>,
): (payload: P, ack: (a: Ack<R>) => void) => void {
  return (payload, ack) => {
    const reply = typeof ack === 'function' ? ack : () => {};
    fn(payload).then(reply, (err: unknown) => {
      if (err instanceof QgError) reply(refuse(err.code, err.message));
      else {
        log(`agent message failed: ${(err as Error).stack ?? String(err)}`);
        reply(refuse('internal', (err as Error).message));
      }
    });
  };
}

export function attachAgentHub(nsp: Namespace<AgentToCoordinator, CoordinatorToAgent>, deps: AgentHubDeps): void {
  const { service, fleet, dispatcher, now, log } = deps;

  nsp.on('connection', (socket: AgentSocket) => {
    let agent: AgentEntry | null = null;
    const requireAgent = (): AgentEntry => {
      if (!agent || agent.socket !== socket) throw new QgError('unknown_agent', 'register before sending other messages');
      agent.lastSeenMs = now();
      return agent;
    };
    const slotOf = (a: AgentEntry, jobId: string, attemptId: string): SlotEntry | undefined =>
      [...a.slots.values()].find((s) => s.attemptId === attemptId || s.jobId === jobId);

    socket.on(
      'register',
      handle(log, async (raw) => {
        const p = parse(RegisterPayload, raw);
        const t = now();
        const previous = fleet.agents.get(p.agent_id);
        if (previous?.socket && previous.socket !== socket) previous.socket.disconnect(true);
        const slots = new Map<string, SlotEntry>();
        for (const info of p.slots) {
          if (slots.has(info.slot_id)) throw new QgError('validation_failed', `slot id ${info.slot_id} is declared twice`);
          const key = slotKeyOf(p.agent_id, info.slot_id);
          slots.set(info.slot_id, { key, agentId: p.agent_id, info, attemptId: null, jobId: null, installs: previous?.slots.get(info.slot_id)?.installs ?? 0 });
        }
        // Reconcile: keep what the agent still runs and we still consider current; stop the rest.
        const cancel = dispatcher.renew(p.agent_id, p.running);
        for (const r of p.running) {
          const slot = slots.get(r.slot_id);
          if (slot && !cancel.includes(r.attempt_id)) {
            slot.attemptId = r.attempt_id;
            slot.jobId = r.job_id;
          }
        }
        agent = { agentId: p.agent_id, name: p.name, version: p.version, socket, connectedAtMs: t, lastSeenMs: t, slots };
        fleet.agents.set(p.agent_id, agent);
        // Attempts we hold for this agent's slots that it no longer runs were lost (e.g. the agent restarted).
        for (const slot of slots.values()) {
          const held = dispatcher.attemptOn(slot.key);
          if (held && slot.attemptId !== held.attemptId) {
            dispatcher.attemptEnded(held.attemptId);
            await service.attemptLost(held.jobId, held.attemptId, 'agent_lost', `agent ${p.agent_id} came back without it`, slot.key);
          }
        }
        log(`agent ${p.agent_id} (${p.name}) registered ${slots.size} slot(s)${p.running.length ? `, still running ${p.running.length}` : ''}`);
        dispatcher.schedule();
        return { ok: true, heartbeat_interval_ms: deps.heartbeatIntervalMs, cancel_attempts: cancel };
      }),
    );

    socket.on(
      'heartbeat',
      handle(log, async (raw) => {
        const a = requireAgent();
        const p = parse(HeartbeatPayload, raw);
        return { ok: true, cancel_attempts: dispatcher.renew(a.agentId, p.running) };
      }),
    );

    socket.on(
      'slot_update',
      handle(log, async (raw) => {
        const a = requireAgent();
        const p = parse(SlotUpdatePayload, raw);
        const slot = a.slots.get(p.slot_id);
        if (!slot) throw new QgError('unknown_agent', `slot ${p.slot_id} was not registered`);
        slot.info = { ...slot.info, installed_app_version_id: p.installed_app_version_id };
        dispatcher.schedule();
        return { ok: true };
      }),
    );

    socket.on(
      'started',
      handle(log, async (raw) => {
        const a = requireAgent();
        const p = parse(StartedPayload, raw);
        const slot = slotOf(a, p.job_id, p.attempt_id);
        if (!slot) throw new QgError('stale_attempt', `attempt ${p.attempt_id} is not on any slot of this agent`);
        if (!(await service.start(p, slot.info.slot_id))) throw new QgError('stale_attempt', `attempt ${p.attempt_id} is no longer current`);
        if (p.install) {
          slot.installs++;
          slot.info = { ...slot.info, installed_app_version_id: p.install.app_version_id };
        }
        return { ok: true };
      }),
    );

    socket.on(
      'log',
      handle(log, async (raw) => {
        requireAgent();
        const p = parse(LogChunkPayload, raw);
        const r = await service.log(p);
        if (r === 'stale') throw new QgError('stale_attempt', `attempt ${p.attempt_id} is no longer current; its log is not stored`);
        return { ok: true, seq: p.seq };
      }),
    );

    socket.on(
      'finished',
      handle(log, async (raw) => {
        const a = requireAgent();
        const p = parse(FinishedPayload, raw);
        const slot = slotOf(a, p.job_id, p.attempt_id);
        const r = await service.finish(p, slot?.key ?? slotKeyOf(a.agentId, '?'));
        dispatcher.attemptEnded(p.attempt_id);
        if (r === 'stale') throw new QgError('stale_attempt', `attempt ${p.attempt_id} is no longer current; its result is not stored`);
        return { ok: true };
      }),
    );

    socket.on('disconnect', (reason) => {
      if (agent && agent.socket === socket) {
        agent.socket = null;
        agent.lastSeenMs = now();
        log(`agent ${agent.agentId} disconnected (${reason}); its attempts keep their leases until they run out`);
      }
    });
  });
}
