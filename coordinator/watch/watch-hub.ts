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

export class WatchHub implements JobEventSink {
  /** State changes of jobs that belong to a run go here (the run watchers, run-watch.ts). */
  runJobMoved?: (job: JobView, eventId: number) => void;

  constructor(private readonly nsp: Namespace<WatcherToCoordinator, CoordinatorToWatcher>) {}

  // Socket.IO encodes a broadcast before it looks at the room: most jobs have no watcher, so ask
  // first. The job service publishes under the job's lock and a subscriber joins under it too, so
  // a watcher that is not in the room yet gets the event from its replay instead.
  #watched(r: string): boolean {
    return (this.nsp.adapter.rooms.get(r)?.size ?? 0) > 0;
  }

  publish(event: JobEvent): void {
    const r = room(event.job_id);
    if (this.#watched(r)) this.nsp.to(r).emit('event', event);
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
