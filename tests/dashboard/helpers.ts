/**
 * Test helper: a dashboard page without the browser: a Socket.IO client on `/dashboard` that keeps
 * the view the way the page does (snapshot, then updates replacing sections and appending log
 * lines) and every raw message it got, so tests can say what a viewer saw and what it never saw.
 */
import { io, type Socket } from 'socket.io-client';
import type { CoordinatorToDashboard, DashboardLogLine, DashboardSnapshot, DashboardToCoordinator, DashboardUpdate } from '../../shared/index.js';

export interface Page {
  socket: Socket<CoordinatorToDashboard, DashboardToCoordinator>;
  /** The merged view; null before the snapshot. */
  view: DashboardSnapshot | null;
  /** Log lines per job as the page keeps them. */
  tails: Map<string, DashboardLogLine[]>;
  /** Every message as received (JSON). */
  raw: string[];
  /** Resolves once `pred` holds for the view (checked at each message); rejects after `timeoutMs` with what it saw. */
  until(what: string, pred: (v: DashboardSnapshot, tails: Map<string, DashboardLogLine[]>) => boolean, timeoutMs?: number): Promise<DashboardSnapshot>;
  close(): void;
}

/** Connects a page to `url` with `token` (over a websocket, or HTTP long-polling as browsers start); resolves after its snapshot. */
export function openPage(url: string, token?: string, transport: 'websocket' | 'polling' = 'websocket'): Promise<Page> {
  const socket: Socket<CoordinatorToDashboard, DashboardToCoordinator> = io(`${url}/dashboard`, {
    transports: [transport],
    reconnection: false,
    auth: token ? { token } : {},
  });
  const waiters = new Set<() => void>();
  const page: Page = {
    socket,
    view: null,
    tails: new Map(),
    raw: [],
    until(what, pred, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (page.view && pred(page.view, page.tails)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(page.view);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(page.view)?.slice(0, 3000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => socket.close(),
  };
  const appendLogs = (batches: DashboardUpdate['logs']) => {
    for (const b of batches ?? []) {
      const lines = page.tails.get(b.job_id) ?? [];
      const last = lines.at(-1)?.n ?? 0;
      page.tails.set(b.job_id, [...lines, ...b.lines.filter((l) => l.n > last)]);
    }
  };
  socket.on('snapshot', (s) => {
    page.raw.push(JSON.stringify(s));
    page.view = s;
    page.tails = new Map(s.tails.map((t) => [t.job_id, t.lines]));
    waiters.forEach((w) => w());
  });
  socket.on('update', (u) => {
    page.raw.push(JSON.stringify(u));
    if (!page.view) return;
    const { logs, ...sections } = u;
    Object.assign(page.view, sections);
    appendLogs(logs);
    waiters.forEach((w) => w());
  });
  return new Promise((resolve, reject) => {
    socket.once('snapshot', () => resolve(page));
    socket.once('connect_error', (err) => reject(Object.assign(err, { page })));
  });
}

/** Connects without expecting success; resolves with the connect error's data. */
export function refusedPage(url: string, token?: string): Promise<{ message: string; data: unknown }> {
  const socket = io(`${url}/dashboard`, { transports: ['websocket'], reconnection: false, auth: token ? { token } : {} });
  return new Promise((resolve, reject) => {
    socket.once('connect_error', (err) => {
      socket.close();
      resolve({ message: err.message, data: (err as Error & { data?: unknown }).data });
    });
    socket.once('snapshot', () => {
      socket.close();
      reject(new Error('the page was let in'));
    });
  });
}
