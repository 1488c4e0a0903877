/**
 * Runs on the `/watch` namespace: `subscribe_run` answers with the run now (and, per job, the last
 * event id it includes), then pushes `run_job` for each state change of one of its jobs and
 * `run_end` once every job has ended.
 *
 * No gap, no duplicate: the watcher joins the run's room *before* the view is read, so a change
 * committed after the read is pushed to it; a change pushed before the read is also in the view,
 * and its `event_id` is not above the view's id for that job, so the watcher drops it. Everything
 * for one run (subscriptions, updates, the end) runs under the run's lock, in commit order per job,
 * so `run_end` goes out once, after the last job's update.
 */
import type { Namespace, Socket } from 'socket.io';
import {
  type CoordinatorToWatcher,
  type JobView,
  QgError,
  SubscribeRunPayload,
  type WatcherToCoordinator,
  fieldErrors,
  isFinal,
} from '../../shared/index.js';
import type { RunService } from '../jobs/run-service.js';
import { socketPrincipal } from '../auth/socket-auth.js';
import { assertVisible } from '../auth/scope.js';
import { KeyedLock } from '../util/keyed-lock.js';

const room = (runId: string): string => `run:${runId}`;

export class RunWatch {
  readonly #lock = new KeyedLock();

  constructor(
    private readonly nsp: Namespace<WatcherToCoordinator, CoordinatorToWatcher>,
    private readonly runs: RunService,
    private readonly log: (line: string) => void,
  ) {}

  /** Handles `subscribe_run` / `unsubscribe_run` on every watcher connection. */
  attach(): void {
    this.nsp.on('connection', (socket) => {
      socket.on('subscribe_run', (raw, ack) => this.#subscribe(socket, raw, typeof ack === 'function' ? ack : () => {}));
      socket.on('unsubscribe_run', (raw, ack) => {
        const runId = typeof raw?.run_id === 'string' ? raw.run_id : '';
        void socket.leave(room(runId));
        if (typeof ack === 'function') ack({ ok: true });
      });
    });
  }

  /** A job of a run changed state (the job service calls this after the commit, in event order). */
  jobMoved(job: JobView, eventId: number): void {
    const runId = job.run_id;
    if (!runId) return;
    const r = room(runId);
    this.#lock
      .run(runId, async () => {
        if (!this.nsp.adapter.rooms.get(r)?.size) return; // nobody watches: nothing to compute
        this.nsp.to(r).emit('run_job', { run_id: runId, job, event_id: eventId });
        if (!isFinal(job.status) || (await this.runs.unfinishedCount(runId)) > 0) return;
        this.nsp.to(r).emit('run_end', { run: await this.runs.view(runId) });
        this.nsp.in(r).socketsLeave(r);
      })
      .catch((err: unknown) => {
        // The watchers would otherwise wait for an end that never comes: make them reconnect,
        // subscribe again and get a fresh view.
        this.log(`run ${runId}: could not update its watchers (${(err as Error).message}); disconnecting them so they resubscribe`);
        this.nsp.in(r).disconnectSockets();
      });
  }

  #subscribe(socket: Socket<WatcherToCoordinator, CoordinatorToWatcher>, raw: unknown, reply: Parameters<WatcherToCoordinator['subscribe_run']>[1]): void {
    const parsed = SubscribeRunPayload.safeParse(raw);
    if (!parsed.success) {
      reply({ ok: false, error: { code: 'validation_failed', message: Object.values(fieldErrors(parsed.error.issues)).join('; ') } });
      return;
    }
    const runId = parsed.data.run_id;
    const r = room(runId);
    this.#lock
      .run(runId, async () => {
        assertVisible(socketPrincipal(socket), await this.runs.orgOf(runId), () => new QgError('run_not_found', `no run with id ${runId}`));
        await socket.join(r); // before the read: see the module header
        const snap = await this.runs.snapshot(runId);
        reply({ ok: true, run: snap.run, event_ids: snap.eventIds });
        if (snap.run.done === snap.run.total) {
          socket.emit('run_end', { run: snap.run });
          await socket.leave(r);
        }
      })
      .catch(async (err: unknown) => {
        await socket.leave(r);
        if (err instanceof QgError) reply({ ok: false, error: { code: err.code, message: err.message } });
        else {
          this.log(`watch subscribe_run failed: ${(err as Error).stack ?? String(err)}`);
          reply({ ok: false, error: { code: 'internal', message: (err as Error).message } });
        }
      });
  }
}
