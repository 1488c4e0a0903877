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

test.run();
