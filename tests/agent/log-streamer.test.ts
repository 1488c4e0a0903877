import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogStreamer, type SendResult } from '../../agent/log-streamer.js';
import type { LogChunkPayload } from '../../shared/index.js';

/** A sender that answers from a script, one answer per call (the default after the script: ok). */
function sender(script: SendResult[] = []) {
  const sent: LogChunkPayload[] = [];
  return {
    sent,
    send: async (c: LogChunkPayload): Promise<SendResult> => {
      sent.push(c);
      return script.shift() ?? 'ok';
    },
  };
}

test('lines become chunks with seq from 0, in order, retried until acknowledged', async () => {
  const s = sender(['retry', 'retry']);
  const st = new LogStreamer('job', 'att', s.send, { maxLines: 2, retryMs: 1 });
  for (let i = 0; i < 5; i++) st.push('stdout', `line ${i}`);
  await st.close();
  const delivered = new Map<number, string[]>();
  for (const c of s.sent) delivered.set(c.seq, c.lines.map((l) => l.text));
  assert.equal([...delivered.keys()], [0, 1, 2]);
  assert.equal([...delivered.values()].flat(), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
  assert.equal(s.sent.map((c) => c.seq), [0, 0, 0, 1, 2], 'chunk 0 resent twice before the next');
  assert.is(st.chunks, 3);
  assert.is(st.undelivered, 0);
});

test('a very long line is cut with a marker; a chunk is cut by bytes', async () => {
  const s = sender();
  const st = new LogStreamer('job', 'att', s.send, { maxLineChars: 10, maxChunkBytes: 25 });
  st.push('stdout', 'x'.repeat(100));
  st.push('stdout', 'short');
  st.push('stdout', 'y'.repeat(20));
  await st.close();
  assert.is(s.sent[0]!.lines[0]!.text, `${'x'.repeat(10)} … [90 more characters cut by the agent]`);
  assert.ok(s.sent.length >= 2, 'cut by size');
});

test('a refused (invalid) chunk is counted, not retried; a stale attempt stops the stream', async () => {
  const s = sender(['invalid', 'ok', 'stale']);
  const st = new LogStreamer('job', 'att', s.send, { maxLines: 1 });
  st.push('stdout', 'a');
  st.push('stdout', 'b');
  st.push('stdout', 'c');
  st.push('stdout', 'd');
  await st.close();
  st.push('stdout', 'after');
  assert.equal(s.sent.map((c) => c.seq), [0, 1, 2]);
  assert.is(st.undelivered, 1 + 2 + 1, 'a (invalid), c and d (stale), and the line after');
});

/** A sender whose answers the test gives by hand, one per chunk sent. */
function manualSender() {
  const sent: LogChunkPayload[] = [];
  const answers: Array<(r: SendResult) => void> = [];
  return {
    sent,
    answer: (r: SendResult) => answers.shift()!(r),
    send: (c: LogChunkPayload): Promise<SendResult> => {
      sent.push(c);
      return new Promise((resolve) => answers.push(resolve));
    },
  };
}
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
/** Lets the event loop turn until `done()` holds (the streamer's own retry pause runs meanwhile). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await nextTurn();
}

test('lines pushed in one turn go out as one chunk at the next turn; lines pushed meanwhile go when it is acknowledged', async () => {
  const s = manualSender();
  const st = new LogStreamer('job', 'att', s.send);
  st.push('stdout', 'a');
  st.push('stdout', 'b');
  assert.is(s.sent.length, 0, 'not sent within the turn');
  await nextTurn();
  assert.equal(s.sent.map((c) => c.lines.map((l) => l.text)), [['a', 'b']]);
  st.push('stdout', 'c');
  st.push('stdout', 'd');
  await nextTurn();
  assert.is(s.sent.length, 1, 'one chunk at a time: c and d wait for the acknowledgement of chunk 0');
  assert.is(st.buffered, 4);
  s.answer('ok');
  await nextTurn();
  assert.equal(s.sent.map((c) => [c.seq, c.lines.map((l) => l.text)]), [[0, ['a', 'b']], [1, ['c', 'd']]]);
  s.answer('ok');
  await st.close();
  assert.is(st.buffered, 0);
  assert.is(st.undelivered, 0);
});

test('room(): an emitter waits at the high-water mark until an acknowledgement makes room; push alone never drops a line', async () => {
  const s = manualSender();
  const st = new LogStreamer('job', 'att', s.send, { highWaterLines: 3 });
  assert.is(st.room(), null);
  for (const t of ['a', 'b', 'c']) st.push('stdout', t);
  await nextTurn(); // chunk 0 (a, b, c) is out
  const wait = st.room();
  assert.ok(wait, 'three lines not acknowledged: full');
  let resumed = false;
  void wait!.then(() => (resumed = true));
  st.push('stdout', 'd'); // over the mark: still taken
  await nextTurn();
  assert.is(st.buffered, 4);
  assert.is(resumed, false, 'no acknowledgement yet');
  s.answer('ok'); // chunk 0 (a, b, c) acknowledged; d is sent next
  await nextTurn();
  assert.is(resumed, true);
  assert.is(st.room(), null, 'one line (d) not acknowledged');
  s.answer('ok');
  await st.close();
  assert.equal(s.sent.flatMap((c) => c.lines.map((l) => l.text)), ['a', 'b', 'c', 'd']);
});

test('room(): a waiting emitter is released when the streamer is abandoned', async () => {
  const s = manualSender();
  const st = new LogStreamer('job', 'att', s.send, { highWaterLines: 1 });
  st.push('stdout', 'a');
  const wait = st.room();
  assert.ok(wait);
  st.abandon();
  await wait; // resolves (the test would time out otherwise)
  assert.is(st.room(), null);
});

test('a chunk resent after no acknowledgement keeps its seq, and lines pushed meanwhile follow it with no gap', async () => {
  const s = manualSender();
  const st = new LogStreamer('job', 'att', s.send, { retryMs: 1 });
  st.push('stdout', 'a');
  await nextTurn();
  st.push('stdout', 'b');
  s.answer('retry'); // e.g. the connection dropped
  await until(() => s.sent.length === 2);
  assert.equal(s.sent.map((c) => c.seq), [0, 0], 'chunk 0 sent again, b not before it');
  s.answer('ok');
  await nextTurn();
  s.answer('ok');
  await st.close();
  assert.equal(s.sent.map((c) => [c.seq, c.lines.map((l) => l.text)]), [[0, ['a']], [0, ['a']], [1, ['b']]]);
});

test.run();
