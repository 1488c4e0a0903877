/**
 * Preloaded into the coordinator under test (`node --import bench/lib/probe.mjs bin/qgjob.js
 * coordinator …`). Benchmarks only. It times every scheduling round (the dispatcher's
 * `qgjob:dispatcher:round` diagnostics channel) and answers the benchmark's IPC requests with the
 * process's own figures: CPU time, RSS, heap, event-loop utilisation, round times. Plain
 * JavaScript, so the coordinator runs exactly the compiled code it ships with.
 */
import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

const startedNs = process.hrtime.bigint();
/** Round times (ms) and their decision counts, since the last reset. */
let rounds = [];
let decisions = [];
subscribe('qgjob:dispatcher:round', (m) => {
  if (rounds.length >= 5_000_000) return;
  rounds.push(m.ms);
  decisions.push(m.decisions);
});

function stats() {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    pid: process.pid,
    started_ns: String(startedNs),
    now_ns: String(process.hrtime.bigint()),
    cpu_user_us: cpu.user,
    cpu_system_us: cpu.system,
    rss: mem.rss,
    heap_used: mem.heapUsed,
    elu: performance.eventLoopUtilization(),
    rounds,
    decisions,
  };
}

if (process.send) {
  process.on('message', (m) => {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'stats') process.send({ reply: m.id, ...stats() });
    else if (m.type === 'reset-rounds') {
      rounds = [];
      decisions = [];
      process.send({ reply: m.id });
    } else if (m.type === 'gc') {
      globalThis.gc?.();
      process.send({ reply: m.id, ...stats() });
    }
  });
  // The benchmark went away: stop like on Ctrl-C (a CPU profile is still written).
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel?.unref();
}
