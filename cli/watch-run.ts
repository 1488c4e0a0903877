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
import { ERROR_CODES, type Ack, type CoordinatorToWatcher, type ErrorCode, type JobView, QgError, type RunSnapshot, type RunView, WATCH_NAMESPACE, type WatcherToCoordinator, isFinal } from '../shared/index.js';

export interface RunWatchOptions {
  /**
   * A job of the run is newer than what the watcher had: first every job of the first snapshot
   * (`previous` undefined), then each change, once and in order per job.
   */
  onJob?: (job: JobView, previous: JobView | undefined) => void;
  /** Called after each (re)subscription with the run as the coordinator sees it then. */
  onSubscribed?: (run: RunView) => void;
  /** Called when the connection drops (the watcher then reconnects and resubscribes by itself). */
  onDisconnect?: (reason: string) => void;
  /** Bound on the first connection (ms). Default 10 000. */
  connectTimeoutMs?: number;
  /** Bound on any later outage: how long the watcher keeps reconnecting before it gives up (ms). Default 60 000. */
  reconnectTimeoutMs?: number;
  /** Bound on the `subscribe_run` acknowledgement (ms). Default 10 000. */
  ackTimeoutMs?: number;
  /** Stops watching; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** API token, sent in the handshake (`auth.token`); needed when the coordinator has tokens configured. */
  token?: string;
}

const isErrorCode = (c: unknown): c is ErrorCode => typeof c === 'string' && (ERROR_CODES as readonly string[]).includes(c);

/**
 * Follows run `runId` until every job has ended and resolves with the final RunView (the payload of
 * `run_end`). Rejects with `coordinator_unreachable` when the first connection does not succeed
 * within `connectTimeoutMs` or a later outage outlasts `reconnectTimeoutMs`, and with the
 * coordinator's own code when it refuses the subscription (e.g. `run_not_found`).
 * @example
 * const run = await watchRun('http://127.0.0.1:8080', runId, { onJob: (j, prev) => isFinal(j.status) && console.log(j.test_path, j.status) });
 * console.log(run.status); // 'failed'
 */
export async function watchRun(url: string, runId: string, opts: RunWatchOptions = {}): Promise<RunView> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const reconnectTimeoutMs = opts.reconnectTimeoutMs ?? 60_000;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
  const base = url.replace(/\/+$/, '');
  opts.signal?.throwIfAborted();

  const { io } = await import('socket.io-client');
  type WatchSocket = import('socket.io-client').Socket<CoordinatorToWatcher, WatcherToCoordinator>;
  const socket: WatchSocket = io(base + WATCH_NAMESPACE, {
    transports: ['websocket'],
    reconnection: true,
    reconnectionDelay: 250,
    reconnectionDelayMax: 2_000,
    timeout: connectTimeoutMs,
    ...(opts.token ? { auth: { token: opts.token } } : {}),
  });

  /** Per job: the newest view the watcher has and the event id it is as of. */
  const jobs = new Map<string, { eventId: number; job: JobView }>();
  let everConnected = false;
  let lastError = 'no answer';
  let outageTimer: NodeJS.Timeout | undefined;

  return new Promise<RunView>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(outageTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners();
      socket.io.removeAllListeners();
      socket.disconnect();
      fn();
    };
    const fail = (err: unknown) => finish(() => reject(err));
    /** Takes `job` if it is newer than what the watcher has; tells `onJob`. */
    const take = (job: JobView, eventId: number) => {
      const had = jobs.get(job.job_id);
      if (had && eventId <= had.eventId) return;
      jobs.set(job.job_id, { eventId, job });
      try {
        opts.onJob?.(job, had?.job);
      } catch (err) {
        fail(err);
      }
    };

    const startOutageTimer = (boundMs: number) => {
      clearTimeout(outageTimer);
      outageTimer = setTimeout(
        () => fail(new QgError('coordinator_unreachable', `cannot reach the coordinator at ${base}: ${lastError} (${everConnected ? 'reconnecting' : 'connecting'} for ${boundMs} ms)`)),
        boundMs,
      );
    };
    const onAbort = () => fail(opts.signal?.reason ?? new Error('aborted'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    startOutageTimer(connectTimeoutMs);

    socket.on('connect', () => {
      everConnected = true;
      clearTimeout(outageTimer);
      void subscribe();
    });
    socket.on('connect_error', (err: Error & { description?: unknown; data?: { code?: unknown; message?: unknown } }) => {
      if (!socket.active && err.data?.code === 'unauthorized') {
        const message = typeof err.data.message === 'string' ? err.data.message : err.message;
        void import('./client.js').then(({ withAdvice }) => fail(withAdvice(new QgError('unauthorized', message), base, opts.token)));
        return;
      }
      const d = err.description as { message?: unknown } | undefined;
      lastError = d && typeof d.message === 'string' ? d.message : err.message;
      // `active` is false when the server refused the namespace itself: retrying would not help.
      if (!socket.active) fail(new QgError('coordinator_unreachable', `cannot reach the coordinator at ${base}: ${lastError}`, undefined, { cause: err }));
    });
    socket.on('disconnect', (reason) => {
      if (settled) return;
      opts.onDisconnect?.(reason);
      lastError = `connection lost (${reason})`;
      startOutageTimer(reconnectTimeoutMs);
      if (reason === 'io server disconnect') socket.connect();
    });

    socket.on('run_job', (p) => {
      if (settled || !p || p.run_id !== runId || !p.job || !Number.isInteger(p.event_id)) return;
      take(p.job, p.event_id);
    });
    socket.on('run_end', (p) => {
      if (settled || !p?.run || p.run.run_id !== runId) return;
      // The final view is authoritative: report any job whose end the watcher has not seen.
      for (const job of p.run.jobs) {
        const had = jobs.get(job.job_id);
        if (!had || (!isFinal(had.job.status) && isFinal(job.status))) take(job, Number.MAX_SAFE_INTEGER);
      }
      if (!settled) finish(() => resolve(p.run));
    });

    async function subscribe(): Promise<void> {
      let ack: Ack<RunSnapshot>;
      try {
        ack = await socket.timeout(ackTimeoutMs).emitWithAck('subscribe_run', { run_id: runId });
      } catch (err) {
        if (settled || !socket.connected) return; // the next `connect` subscribes again
        fail(new QgError('coordinator_unreachable', `the coordinator at ${base} did not acknowledge the subscription within ${ackTimeoutMs} ms`, undefined, { cause: err }));
        return;
      }
      if (settled) return;
      if (!ack || typeof ack !== 'object') return fail(new QgError('internal', `the coordinator at ${base} answered subscribe_run with ${JSON.stringify(ack)}`));
      if (!ack.ok) {
        return fail(new QgError(isErrorCode(ack.error?.code) ? ack.error.code : 'internal', ack.error?.message ?? 'the coordinator refused the subscription'));
      }
      try {
        opts.onSubscribed?.(ack.run);
      } catch (err) {
        return fail(err);
      }
      for (const job of ack.run.jobs) take(job, ack.event_ids?.[job.job_id] ?? 0);
    }
  });
}
