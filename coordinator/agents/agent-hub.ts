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
import type { Logger } from '../log.js';
import { isStoreUnavailable } from '../store/index.js';
import type { Dispatcher } from './dispatcher.js';
import { AgentEntry, type AgentSocket, type Fleet, SlotEntry, slotKeyOf } from './fleet.js';

export interface AgentHubDeps {
  service: JobService;
  fleet: Fleet;
  dispatcher: Dispatcher;
  heartbeatIntervalMs: number;
  now: () => number;
  log: Logger;
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
  log: () => Logger,
  fn: (payload: P) => Promise<Ack<R>>,
): (payload: P, ack: (a: Ack<R>) => void) => void {
  return (payload, ack) => {
    const reply = typeof ack === 'function' ? ack : () => {};
    fn(payload).then(reply, (err: unknown) => {
      if (err instanceof QgError) reply(refuse(err.code, err.message));
      else if (isStoreUnavailable(err)) reply(refuse('store_unavailable', 'the database is unavailable; send it again shortly'));
      else {
        log().error({ err }, 'agent message failed; the agent was told internal and may send it again');
        reply(refuse('internal', (err as Error).message));
      }
    });
  };
}

export function attachAgentHub(nsp: Namespace<AgentToCoordinator, CoordinatorToAgent>, deps: AgentHubDeps): void {
  const { service, fleet, dispatcher, now, log } = deps;

  nsp.on('connection', (socket: AgentSocket) => {
    let agent: AgentEntry | null = null;
    /** This connection's logger: with the agent's id once it registered. */
    let alog: Logger = log.child({ socket_id: socket.id });
    const connLog = () => alog;
    const requireAgent = (): AgentEntry => {
      if (!agent || agent.socket !== socket) throw new QgError('unknown_agent', 'register before sending other messages');
      agent.lastSeenMs = now();
      return agent;
    };
    /** The agent's slot that holds `attemptId`; messages for attempts on no slot of this agent are stale. */
    const slotOf = (a: AgentEntry, attemptId: string): SlotEntry => {
      for (const s of a.slots.values()) if (s.attemptId === attemptId) return s;
      throw new QgError('stale_attempt', `attempt ${attemptId} is not on any slot of this agent`);
    };

    socket.on(
      'register',
      handle(connLog, async (raw) => {
        const p = parse(RegisterPayload, raw);
        const t = now();
        const slots = new Map<string, SlotEntry>();
        for (const info of p.slots) {
          if (slots.has(info.slot_id)) throw new QgError('validation_failed', `slot id ${info.slot_id} is declared twice`);
        }
        const previous = fleet.agents.get(p.agent_id);
        if (previous?.socket && previous.socket !== socket) previous.socket.disconnect(true);
        for (const info of p.slots) {
          const before = previous?.slots.get(info.slot_id);
          // A slot keeps what the coordinator had on it (e.g. a dispatch in flight); what the agent
          // reports below wins, and renew() frees what neither side holds any more.
          slots.set(
            info.slot_id,
            new SlotEntry({
              key: slotKeyOf(p.agent_id, info.slot_id),
              agentId: p.agent_id,
              info,
              attemptId: before?.attemptId ?? null,
              jobId: before?.jobId ?? null,
              installs: before?.installs ?? 0,
            }),
          );
        }
        for (const r of p.running) {
          const slot = slots.get(r.slot_id);
          if (slot) {
            slot.attemptId = r.attempt_id;
            slot.jobId = r.job_id;
          }
        }
        alog = log.child({ agent_id: p.agent_id });
        agent = new AgentEntry({ agentId: p.agent_id, name: p.name, version: p.version, socket, connectedAtMs: t, lastSeenMs: t, slots });
        fleet.agents.set(p.agent_id, agent);
        // Keep what the agent still runs and the coordinator still considers current; stop the rest.
        const cancel = dispatcher.renew(p.agent_id, p.running);
        // Attempts the coordinator holds for this agent that it no longer runs were lost (it restarted).
        const reported = new Set(p.running.map((r) => r.attempt_id));
        for (const slot of slots.values()) {
          for (const held of dispatcher.leasedOn(slot.key)) {
            if (!reported.has(held.attemptId) && slot.attemptId !== `reserved:${held.jobId}`) {
              if (slot.attemptId === held.attemptId) {
                slot.attemptId = null;
                slot.jobId = null;
              }
              await dispatcher.agentForgot(held.attemptId, `agent ${p.agent_id} came back without it`);
            }
          }
        }
        alog.info(`agent ${p.agent_id} (${p.name}) registered ${slots.size} slot(s)${p.running.length ? `, still running ${p.running.length}` : ''}`);
        dispatcher.schedule();
        return { ok: true, heartbeat_interval_ms: deps.heartbeatIntervalMs, cancel_attempts: cancel };
      }),
    );

    socket.on(
      'heartbeat',
      handle(connLog, async (raw) => {
        const a = requireAgent();
        const p = parse(HeartbeatPayload, raw);
        return { ok: true, cancel_attempts: dispatcher.renew(a.agentId, p.running) };
      }),
    );

    socket.on(
      'slot_update',
      handle(connLog, async (raw) => {
        const a = requireAgent();
        const p = parse(SlotUpdatePayload, raw);
        const slot = a.slots.get(p.slot_id);
        if (!slot) throw new QgError('unknown_agent', `slot ${p.slot_id} was not registered`);
        const was = slot.info.health;
        slot.info = { ...slot.info, installed_app_version_id: p.installed_app_version_id, health: p.health, health_reason: p.health_reason };
        if (was !== p.health) alog.info({ slot_id: p.slot_id }, `slot ${slot.key} is ${p.health}${p.health_reason ? `: ${p.health_reason}` : ''}`);
        dispatcher.schedule();
        return { ok: true };
      }),
    );

    socket.on(
      'started',
      handle(connLog, async (raw) => {
        const a = requireAgent();
        const p = parse(StartedPayload, raw);
        const slot = slotOf(a, p.attempt_id);
        if (!(await service.start(p, slot.info.slot_id))) throw new QgError('stale_attempt', `attempt ${p.attempt_id} is no longer current`);
        alog.info(
          { job_id: p.job_id, attempt_id: p.attempt_id, slot_id: slot.info.slot_id },
          `attempt ${p.attempt_id} started on ${slot.key}${p.install ? ` after installing ${p.install.app_version_id} (${p.install.duration_ms} ms)` : ''}`,
        );
        if (p.install) {
          slot.installs++;
          slot.info = { ...slot.info, installed_app_version_id: p.install.app_version_id };
        }
        return { ok: true };
      }),
    );

    socket.on(
      'log',
      handle(connLog, async (raw) => {
        const a = requireAgent();
        const p = parse(LogChunkPayload, raw);
        slotOf(a, p.attempt_id);
        const r = await service.log(p);
        if (r === 'stale') throw new QgError('stale_attempt', `attempt ${p.attempt_id} is no longer current; its log is not stored`);
        return { ok: true, seq: p.seq };
      }),
    );

    socket.on(
      'finished',
      handle(connLog, async (raw) => {
        const a = requireAgent();
        const p = parse(FinishedPayload, raw);
        // A result resent after its acknowledgement was lost: the job already ended with it.
        const holder = [...a.slots.values()].find((s) => s.attemptId === p.attempt_id);
        if (!holder && !service.active(p.job_id) && (await service.finish(p, '')) === 'finished') return { ok: true };
        const slot = slotOf(a, p.attempt_id);
        const r = await service.finish(p, slot.key);
        if (r === 'not_started') throw new QgError('illegal_transition', `attempt ${p.attempt_id} sent a test result before started`);
        dispatcher.attemptEnded(p.attempt_id, slot.key);
        if (r !== 'stale') {
          alog.info(
            { job_id: p.job_id, attempt_id: p.attempt_id, slot_id: slot.info.slot_id },
            `attempt ${p.attempt_id} ended ${p.outcome}${p.outcome === 'error' ? ` (${p.error_reason ?? 'runner_error'})` : ''}${r === 'requeued' ? '; the job runs again' : ''}`,
          );
        }
        if (r === 'stale') throw new QgError('stale_attempt', `attempt ${p.attempt_id} is no longer current; its result is not stored`);
        return { ok: true };
      }),
    );

    socket.on(
      'drain',
      handle(connLog, async () => {
        const a = requireAgent();
        a.draining = true;
        alog.info(`agent ${a.agentId} is shutting down: no new jobs for its ${a.slots.size} slot(s)`);
        return { ok: true };
      }),
    );

    socket.on('disconnect', (reason) => {
      if (agent && agent.socket === socket) {
        agent.socket = null;
        agent.lastSeenMs = now();
        alog.info(`agent ${agent.agentId} disconnected (${reason}); its attempts keep their leases until they run out`);
      }
    });
  });
}
