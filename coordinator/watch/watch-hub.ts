/**
 * The `/watch` namespace: a watcher subscribes to a job and first gets every event it missed
 * (from the store), then live ones, with no gap and no duplicate: the replay runs under the job's
 * lock, so no new event can be stored and published between the replay and joining the live room.
 */
import type { Namespace } from 'socket.io';
import {
  type CoordinatorToWatcher,
  type JobEvent,
  type JobState,
  type JobView,
  QgError,
  SubscribePayload,
  type WatcherToCoordinator,
  fieldErrors,
  isFinal,
} from '../../shared/index.js';
import type { JobEventSink, JobService } from '../jobs/job-service.js';
import { toJobEvent } from '../jobs/job-view.js';
import type { Logger } from '../log.js';
import type { JobStore } from '../store/index.js';
import { assertVisible, jobNotFound } from '../auth/scope.js';
import { socketPrincipal } from '../auth/socket-auth.js';

const room = (jobId: string): string => `job:${jobId}`;

interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * The TCP socket under a watcher on the WebSocket transport (engine.io's transport → ws's socket),
 * or null (long-polling, or a layout these versions do not have: then writes are simply not held).
 */
function tcpOf(socket: { conn: unknown } | undefined): Corkable | null {
  const transport = (socket?.conn as { transport?: { name?: string; socket?: { _socket?: Partial<Corkable> | null } } } | undefined)?.transport;
  const tcp = transport?.name === 'websocket' ? transport.socket?._socket : null;
  return tcp && typeof tcp.cork === 'function' && typeof tcp.uncork === 'function' ? (tcp as Corkable) : null;
}

export class WatchHub implements JobEventSink {
  /** State changes of jobs that belong to a run go here (the run watchers, run-watch.ts). */
  runJobMoved?: (job: JobView, eventId: number) => void;

  constructor(private readonly nsp: Namespace<WatcherToCoordinator, CoordinatorToWatcher>) {}

  /** TCP sockets of watchers held (corked) until the next turn of the event loop; see #holdWrites. */
  readonly #held = new Set<Corkable>();
  #release: NodeJS.Immediate | null = null;

  // Socket.IO encodes a broadcast before it looks at the room: most jobs have no watcher, so ask
  // first. The job service publishes under the job's lock and a subscriber joins under it too, so
  // a watcher that is not in the room yet gets the event from its replay instead.
  #watched(r: string): boolean {
    return (this.nsp.adapter.rooms.get(r)?.size ?? 0) > 0;
  }

  publish(event: JobEvent): void {
    const r = room(event.job_id);
    if (!this.#watched(r)) return;
    if (event.type === 'log') this.#holdWrites(r);
    this.nsp.to(r).emit('event', event);
  }

  /**
   * A group commit publishes the chunks of many jobs in one turn, and a watcher that follows many
   * jobs would get each as its own write (one syscall per chunk per watcher). Holding each room
   * member's TCP socket corked until the next turn sends all of a watcher's events of this turn in
   * one write, in the same order; nothing waits for a timer.
   */
  #holdWrites(r: string): void {
    const ids = this.nsp.adapter.rooms.get(r);
    if (!ids) return;
    for (const id of ids) {
      const tcp = tcpOf(this.nsp.sockets.get(id));
      if (!tcp || this.#held.has(tcp)) continue;
      tcp.cork();
      this.#held.add(tcp);
    }
    this.#release ??= setImmediate(() => {
      this.#release = null;
      const held = [...this.#held];
      this.#held.clear();
      for (const tcp of held) tcp.uncork();
    });
  }

  end(jobId: string, job: JobView): void {
    const r = room(jobId);
    if (!this.#watched(r)) return;
    this.nsp.to(r).emit('end', { job_id: jobId, job });
    this.nsp.in(r).socketsLeave(r);
  }

  attach(service: JobService, store: JobStore, log: Logger): void {
    this.nsp.on('connection', (socket) => {
      socket.on('subscribe', (raw, ack) => {
        const reply = typeof ack === 'function' ? ack : () => {};
        const parsed = SubscribePayload.safeParse(raw);
        if (!parsed.success) {
          reply({ ok: false, error: { code: 'validation_failed', message: Object.values(fieldErrors(parsed.error.issues)).join('; ') } });
          return;
        }
        const { job_id: jobId, after_event_id: after } = parsed.data;
        service
          .withJob(jobId, async () => {
            const job = await service.view(jobId);
            assertVisible(socketPrincipal(socket), job.org_id, jobNotFound(jobId));
            reply({ ok: true, job });
            for (const e of await store.eventsAfter(jobId, after)) socket.emit('event', toJobEvent(e));
            if (isFinal(job.status as JobState)) socket.emit('end', { job_id: jobId, job });
            else await socket.join(room(jobId));
          })
          .catch((err: unknown) => {
            if (err instanceof QgError) reply({ ok: false, error: { code: err.code, message: err.message } });
            else {
              log.error({ err, job_id: jobId }, 'watch subscribe failed; the watcher was told internal');
              reply({ ok: false, error: { code: 'internal', message: (err as Error).message } });
            }
          });
      });
      socket.on('unsubscribe', (raw, ack) => {
        const jobId = typeof raw?.job_id === 'string' ? raw.job_id : '';
        void socket.leave(room(jobId));
        if (typeof ack === 'function') ack({ ok: true });
      });
    });
  }
}
