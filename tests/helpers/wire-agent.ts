/**
 * A test agent that speaks the `/agents` protocol message by message over a real Socket.IO
 * connection: it registers one slot, acknowledges assignments, heartbeats what it runs, and lets
 * the test decide each attempt's outcome. For tests of the coordinator's bookkeeping (runs,
 * cancels); running real specs is the end-to-end tests' job.
 */
import { io, type Socket } from 'socket.io-client';
import type { Ack, AgentToCoordinator, Assignment, CancelOrder, CoordinatorToAgent } from '../../shared/index.js';

export interface WireAgent {
  socket: Socket<CoordinatorToAgent, AgentToCoordinator>;
  /** Cancel orders received, in order. */
  cancels: CancelOrder[];
  /** The next assignment (in order); rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Assignment>;
  /** Reports `started`, then `finished` with `outcome` (one test case, failing unless passed). */
  run(a: Assignment, outcome: 'passed' | 'failed' | 'error', message?: string): Promise<void>;
  close(): void;
}

export async function connectWireAgent(url: string, agentId: string, slot: { target?: string; platform?: string } = {}): Promise<WireAgent> {
  const socket: Socket<CoordinatorToAgent, AgentToCoordinator> = io(`${url}/agents`, { transports: ['websocket'], reconnection: false });
  const assignments: Assignment[] = [];
  const running = new Map<string, Assignment>();
  const cancels: CancelOrder[] = [];
  let consumed = 0;
  let wake: (() => void) | null = null;
  socket.on('assign', (a, ack) => {
    assignments.push(a);
    running.set(a.attempt_id, a);
    ack({ ok: true });
    wake?.();
  });
  socket.on('cancel', (c) => {
    cancels.push(c);
    running.delete(c.attempt_id);
  });
  const beat = setInterval(() => {
    if (socket.connected) socket.emit('heartbeat', { running: [...running.values()].map((a) => ({ job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id })) }, () => {});
  }, 100);
  const reply = await socket.timeout(5000).emitWithAck('register', {
    agent_id: agentId,
    name: agentId,
    version: 'test',
    slots: [{ slot_id: 's1', target: (slot.target ?? 'emulator') as 'emulator', platform: (slot.platform ?? 'android') as 'android', device_name: 'wire', endpoint: 'http://127.0.0.1:1', installed_app_version_id: null }],
    running: [],
  });
  if (!reply.ok) throw new Error(`register refused: ${JSON.stringify(reply)}`);

  const send = async <E extends keyof AgentToCoordinator>(event: E, payload: Parameters<AgentToCoordinator[E]>[0]): Promise<Ack> =>
    (socket.timeout(5000).emitWithAck as (e: string, p: unknown) => Promise<Ack>)(event, payload);

  return {
    socket,
    cancels,
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (assignments.length <= consumed) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no assignment for ${agentId} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      return assignments[consumed++]!;
    },
    async run(a, outcome, message = 'Error: boom') {
      const started = await send('started', { job_id: a.job_id, attempt_id: a.attempt_id, install: null });
      if (!started.ok) throw new Error(`started refused: ${JSON.stringify(started)}`);
      const finished = await send('finished', {
        job_id: a.job_id,
        attempt_id: a.attempt_id,
        outcome,
        error_message: outcome === 'passed' ? null : message,
        test_cases: outcome === 'error' ? [] : [{ title: 't', full_title: 't', status: outcome, duration_ms: 5, error_message: outcome === 'passed' ? null : message, retry: 0 }],
        duration_ms: 10,
        log_chunks: 0,
        video: null,
        video_note: null,
        ...(outcome === 'error' ? { error_reason: 'runner_error' as const } : {}),
      });
      running.delete(a.attempt_id);
      if (!finished.ok) throw new Error(`finished refused: ${JSON.stringify(finished)}`);
    },
    close() {
      clearInterval(beat);
      socket.close();
    },
  };
}
