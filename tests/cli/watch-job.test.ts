/**
 * `watchJob` against a stand-in `/watch` namespace (a real Socket.IO server on 127.0.0.1:0): it
 * resumes after a dropped connection with the last event id it delivered, never delivers an event
 * twice even when the server replays too much, and fails with a code when it cannot go on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Namespace, type Socket } from 'socket.io';
import { watchJob } from '../../cli/client.js';
import { QgError, WATCH_NAMESPACE, type CoordinatorToWatcher, type JobEvent, type JobView, type WatcherToCoordinator } from '../../shared/index.js';
import { jobViewFixture } from '../helpers/fixtures.js';

let http: HttpServer | undefined;
let io: Server | undefined;
let nsp: Namespace<WatcherToCoordinator, CoordinatorToWatcher>;
let url = '';

/** What the stand-in does on each `subscribe`; each test sets it. */
let onSubscribe: (socket: Socket<WatcherToCoordinator, CoordinatorToWatcher>, p: { job_id: string; after_event_id?: number }, n: number) => void = () => {};
const subscriptions: Array<{ job_id: string; after_event_id?: number }> = [];

const job = (status: JobView['status']): JobView =>
  jobViewFixture({ job_id: 'j1', app_version_id: 'v1', test_path: 'tests/a.spec.js', status, attempts: 1, attempt_id: 'a1', duration_ms: 10, installed_build: false });

const log = (id: number): JobEvent => ({ job_id: 'j1', event_id: id, at: new Date().toISOString(), type: 'log', attempt: 1, lines: [{ at_ms: 0, stream: 'stdout', text: `line ${id}` }] });

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  http = createServer();
  io = new Server(http, { serveClient: false });
  nsp = io.of(WATCH_NAMESPACE) as unknown as Namespace<WatcherToCoordinator, CoordinatorToWatcher>;
  nsp.on('connection', (socket) => {
    socket.on('subscribe', (p, ack) => {
      subscriptions.push(p);
      const n = subscriptions.length;
      if (p.job_id !== 'j1') return ack({ ok: false, error: { code: 'job_not_found', message: `no job with id ${p.job_id}` } });
      ack({ ok: true, job: job('running') });
      onSubscribe(socket, p, n);
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

test.after(async () => {
  if (io) await new Promise<void>((resolve) => io!.close(() => resolve())); // also closes the HTTP server
});

test('events arrive in order; after a server-side disconnect it resumes with the last id and drops replayed duplicates', async () => {
  subscriptions.length = 0;
  onSubscribe = async (socket, _p, n) => {
    if (n === 1) {
      for (const id of [1, 2, 3]) socket.emit('event', log(id));
      await tick();
      socket.disconnect(true); // the server closes the connection on purpose
    } else {
      // A sloppy replay from the start: the watcher must drop 1..3.
      for (const id of [1, 2, 3, 4, 5]) socket.emit('event', log(id));
      socket.emit('end', { job_id: 'j1', job: job('passed') });
    }
  };
  const seen: number[] = [];
  const final = await watchJob(url, 'j1', { onEvent: (e) => seen.push(e.event_id), connectTimeoutMs: 3000 });
  assert.is(final.status, 'passed');
  assert.equal(seen, [1, 2, 3, 4, 5]);
  assert.equal(subscriptions.map((s) => s.after_event_id), [0, 3]);
});

test('after a dropped transport it reconnects by itself and resumes', async () => {
  subscriptions.length = 0;
  const disconnects: string[] = [];
  onSubscribe = async (socket, p, n) => {
    if (n === 1) {
      socket.emit('event', log(8));
      await tick();
      socket.conn.close(); // like a network drop
    } else {
      socket.emit('event', log((p.after_event_id ?? 0) + 1));
      socket.emit('end', { job_id: 'j1', job: job('failed') });
    }
  };
  const seen: number[] = [];
  const final = await watchJob(url, 'j1', { afterEventId: 7, onEvent: (e) => seen.push(e.event_id), onDisconnect: (r) => disconnects.push(r) });
  assert.is(final.status, 'failed');
  assert.equal(seen, [8, 9]);
  assert.equal(subscriptions.map((s) => s.after_event_id), [7, 8]);
  assert.is(disconnects.length, 1);
});

test('events of other jobs and at or below afterEventId are ignored', async () => {
  subscriptions.length = 0;
  onSubscribe = (socket) => {
    socket.emit('event', { ...log(2), job_id: 'other' });
    socket.emit('event', log(1));
    socket.emit('event', log(2));
    socket.emit('end', { job_id: 'other', job: job('passed') });
    socket.emit('end', { job_id: 'j1', job: job('cancelled') });
  };
  const seen: number[] = [];
  const final = await watchJob(url, 'j1', { afterEventId: 1, onEvent: (e) => seen.push(e.event_id) });
  assert.is(final.status, 'cancelled');
  assert.equal(seen, [2]);
});

test('a refused subscription rejects with the server code', async () => {
  try {
    await watchJob(url, 'nope', {});
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, QgError);
    assert.is((err as QgError).code, 'job_not_found');
  }
});

test('a closed port rejects with coordinator_unreachable within the bound', async () => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const t0 = Date.now();
  try {
    await watchJob(`http://127.0.0.1:${port}`, 'j1', { connectTimeoutMs: 600 });
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, QgError);
    assert.is((err as QgError).code, 'coordinator_unreachable');
    assert.match((err as QgError).message, /^cannot reach the coordinator at http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  }
  const took = Date.now() - t0;
  assert.ok(took >= 500 && took < 3000, `took ${took} ms`);
});

test('an outage longer than reconnectTimeoutMs rejects with coordinator_unreachable', async () => {
  subscriptions.length = 0;
  // A second server that we stop for good after the first subscription.
  const h2 = createServer();
  const io2 = new Server(h2, { serveClient: false });
  io2.of(WATCH_NAMESPACE).on('connection', (socket) => {
    socket.on('subscribe', (_p: unknown, ack: (a: unknown) => void) => {
      ack({ ok: true, job: job('running') });
      setTimeout(() => {
        io2.close();
      }, 20);
    });
  });
  h2.listen(0, '127.0.0.1');
  await once(h2, 'listening');
  const u2 = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  try {
    await watchJob(u2, 'j1', { reconnectTimeoutMs: 700 });
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, QgError);
    assert.is((err as QgError).code, 'coordinator_unreachable');
    assert.match((err as QgError).message, /reconnecting for 700 ms/);
  }
});

test.run();
