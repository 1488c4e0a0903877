/**
 * The connection both watchers share (`watchJob` follows a job, `watchRun` a run): one Socket.IO
 * connection to `/watch` that reconnects by itself, a bound on the first connection and on any
 * later outage, an abort signal, and a subscription sent again after every (re)connect. The
 * watcher registers its own events and says when it is done; everything is torn down once.
 */
import { type CoordinatorToWatcher, QgError, WATCH_NAMESPACE, type WatcherToCoordinator, isErrorCode } from '../shared/index.js';

export type WatchSocket = import('socket.io-client').Socket<CoordinatorToWatcher, WatcherToCoordinator>;

export interface WatchConnectionOptions {
  /** API token, sent in the handshake (`auth.token`); needed when the coordinator has tokens configured. */
  token?: string;
  /** Called when the connection drops (the watcher then reconnects and subscribes again by itself). */
  onDisconnect?: (reason: string) => void;
  /** Bound on the first connection (ms). Default 10 000. */
  connectTimeoutMs?: number;
  /** Bound on any later outage: how long the watcher keeps reconnecting before it gives up (ms). Default 60 000. */
  reconnectTimeoutMs?: number;
  /** Bound on the subscription's acknowledgement (ms). Default 10 000. */
  ackTimeoutMs?: number;
  /** Stops watching; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What a watcher gets to work with while the connection lives. */
export interface WatchSession<T> {
  readonly socket: WatchSocket;
  /** The coordinator's URL without a trailing slash (for messages). */
  readonly base: string;
  /** True once the watch resolved or failed: late events are ignored. */
  settled(): boolean;
  resolve(value: T): void;
  fail(err: unknown): void;
  /**
   * Sends a subscription and returns the coordinator's positive answer; null when the connection
   * dropped meanwhile (the next connect subscribes again) or the watch is over. A timeout, a
   * malformed answer or a refusal fails the watch (a refusal with the coordinator's own code).
   */
  subscribe<A extends object>(event: 'subscribe' | 'subscribe_run', payload: object): Promise<A | null>;
}

/** Error advice for an `unauthorized` or `forbidden` answer: what to set, where. */
export function withAdvice(err: QgError, url: string, token: string | undefined): QgError {
  if (err.code === 'unauthorized') {
    return new QgError(
      'unauthorized',
      token
        ? `the coordinator at ${url} refused the API token (${err.message}): check QGJOB_TOKEN (or --token)`
        : `the coordinator at ${url} requires an API token: set QGJOB_TOKEN to your org's token (or pass --token)`,
    );
  }
  if (err.code === 'forbidden') return new QgError('forbidden', `${err.message} (use a token of that org, or the admin token, in QGJOB_TOKEN)`);
  return err;
}

/**
 * Opens the `/watch` connection and runs `watch` on it: `watch` registers the watcher's events and
 * returns the function that subscribes (called after each connect). Resolves or rejects when the
 * watcher calls `resolve`/`fail`; rejects with `coordinator_unreachable` when the first connection
 * does not succeed within `connectTimeoutMs` or a later outage outlasts `reconnectTimeoutMs`.
 */
export async function followWatch<T>(url: string, opts: WatchConnectionOptions, watch: (w: WatchSession<T>) => () => void): Promise<T> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const reconnectTimeoutMs = opts.reconnectTimeoutMs ?? 60_000;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
  const base = url.replace(/\/+$/, '');
  opts.signal?.throwIfAborted();

  // Loaded here, not at the top: `qgjob --help` and the HTTP-only commands never pay for it.
  const { io } = await import('socket.io-client');
  const socket: WatchSocket = io(base + WATCH_NAMESPACE, {
    transports: ['websocket'],
    reconnection: true,
    reconnectionDelay: 250,
    reconnectionDelayMax: 2_000,
    timeout: connectTimeoutMs,
    ...(opts.token ? { auth: { token: opts.token } } : {}),
  });

  let everConnected = false;
  let lastError = 'no answer';
  let outageTimer: NodeJS.Timeout | undefined;

  return new Promise<T>((resolve, reject) => {
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

    const session: WatchSession<T> = {
      socket,
      base,
      settled: () => settled,
      resolve: (value) => finish(() => resolve(value)),
      fail,
      async subscribe<A extends object>(event: 'subscribe' | 'subscribe_run', payload: object): Promise<A | null> {
        let ack: unknown;
        try {
          // The two subscriptions differ in payload and answer; the caller names the answer's type.
          const emit = socket.timeout(ackTimeoutMs) as unknown as { emitWithAck(ev: string, p: object): Promise<unknown> };
          ack = await emit.emitWithAck(event, payload);
        } catch (err) {
          if (settled || !socket.connected) return null; // the next `connect` subscribes again
          fail(new QgError('coordinator_unreachable', `the coordinator at ${base} did not acknowledge the subscription within ${ackTimeoutMs} ms`, undefined, { cause: err }));
          return null;
        }
        if (settled) return null;
        if (!ack || typeof ack !== 'object') {
          fail(new QgError('internal', `the coordinator at ${base} answered ${event} with ${JSON.stringify(ack)}`));
          return null;
        }
        const a = ack as { ok?: unknown; error?: { code?: unknown; message?: string } };
        if (!a.ok) {
          fail(new QgError(isErrorCode(a.error?.code) ? a.error.code : 'internal', a.error?.message ?? 'the coordinator refused the subscription'));
          return null;
        }
        return ack as A;
      },
    };
    const subscribe = watch(session);

    socket.on('connect', () => {
      everConnected = true;
      clearTimeout(outageTimer);
      subscribe();
    });
    socket.on('connect_error', (err: Error & { description?: unknown; data?: { code?: unknown; message?: unknown } }) => {
      if (!socket.active && err.data?.code === 'unauthorized') {
        fail(withAdvice(new QgError('unauthorized', typeof err.data.message === 'string' ? err.data.message : err.message), base, opts.token));
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
      // "io server disconnect" means the server closed us on purpose: socket.io does not reconnect by itself then.
      if (reason === 'io server disconnect') socket.connect();
    });
  });
}
