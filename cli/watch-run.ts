/**
 * Follows a run over the `/watch` namespace (`subscribe_run`) until every job has ended.
 *
 * The coordinator answers a subscription with the run now and, per job, the id of the last event
 * that view includes; then it pushes `run_job` (a job after a state change, with that change's
 * event id) and `run_end`. The watcher keeps, per job, the newest view it has and its event id, and
 * takes a view only when it is newer: updates that raced the snapshot (already in it) and replays
 * after a reconnect are dropped, so `onJob` sees each change of a job once and in order. After a
 * dropped connection it reconnects and subscribes again; the new snapshot fills the gap.
 */
import { type JobView, type RunSnapshot, type RunView, isFinal } from '../shared/index.js';
import { type WatchConnectionOptions, followWatch } from './watch-socket.js';

export interface RunWatchOptions extends WatchConnectionOptions {
  /**
   * A job of the run is newer than what the watcher had: first every job of the first snapshot
   * (`previous` undefined), then each change, once and in order per job.
   */
  onJob?: (job: JobView, previous: JobView | undefined) => void;
  /** Called after each (re)subscription with the run as the coordinator sees it then. */
  onSubscribed?: (run: RunView) => void;
}

/**
 * Follows run `runId` until every job has ended and resolves with the final RunView (the payload of
 * `run_end`). Rejects with `coordinator_unreachable` when the first connection does not succeed
 * within `connectTimeoutMs` or a later outage outlasts `reconnectTimeoutMs`, and with the
 * coordinator's own code when it refuses the subscription (e.g. `run_not_found`).
 * @example
 * const run = await watchRun('http://127.0.0.1:8080', runId, { onJob: (j, prev) => isFinal(j.status) && console.log(j.test_path, j.status) });
 * console.log(run.status); // 'failed'
 */
export function watchRun(url: string, runId: string, opts: RunWatchOptions = {}): Promise<RunView> {
  /** Per job: the newest view the watcher has and the event id it is as of. */
  const jobs = new Map<string, { eventId: number; job: JobView }>();
  return followWatch<RunView>(url, opts, (w) => {
    /** Takes `job` if it is newer than what the watcher has; tells `onJob`. */
    const take = (job: JobView, eventId: number) => {
      const had = jobs.get(job.job_id);
      if (had && eventId <= had.eventId) return;
      jobs.set(job.job_id, { eventId, job });
      try {
        opts.onJob?.(job, had?.job);
      } catch (err) {
        w.fail(err);
      }
    };
    w.socket.on('run_job', (p) => {
      if (w.settled() || !p || p.run_id !== runId || !p.job || !Number.isInteger(p.event_id)) return;
      take(p.job, p.event_id);
    });
    w.socket.on('run_end', (p) => {
      if (w.settled() || !p?.run || p.run.run_id !== runId) return;
      // The final view is authoritative: report any job whose end the watcher has not seen.
      for (const job of p.run.jobs) {
        const had = jobs.get(job.job_id);
        if (!had || (!isFinal(had.job.status) && isFinal(job.status))) take(job, Number.MAX_SAFE_INTEGER);
      }
      w.resolve(p.run);
    });
    return () =>
      void w.subscribe<RunSnapshot>('subscribe_run', { run_id: runId }).then((ack) => {
        if (!ack) return;
        try {
          opts.onSubscribed?.(ack.run);
        } catch (err) {
          return w.fail(err);
        }
        for (const job of ack.run.jobs) take(job, ack.event_ids?.[job.job_id] ?? 0);
      });
  });
}
