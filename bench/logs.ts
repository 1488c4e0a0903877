/**
 * Benchmark 5, log streaming (`npm run bench:logs`): 50 agents (noop slots) each run one job that
 * emits lines as fast as the agent's log streamer allows (a line is written only while the job has
 * fewer than the streamer's high-water mark of lines not yet acknowledged; one chunk in flight per
 * job, the lines gathered meanwhile go out as the next chunk), while 10 watchers (`/watch`, in another process) each
 * follow all 50 jobs. Measured: lines/s stored (first line emitted → last job's result stored,
 * which comes after all its chunks were acknowledged), lines/s delivered to every watcher (→ the
 * last line reached the last watcher), and agent → watcher latency per line (sampled), p50/p99,
 * split into agent → coordinator (the agent's buffer and the socket) and coordinator → watcher.
 */
import { type BenchOptions, type BenchResult, isMain, main, round, size, startTsChild, summary } from './lib/common.js';
import { cpuBetween } from './lib/coordinator.js';
import { withSystem } from './lib/fleet.js';
import { Submitter, benchSpec } from './lib/submit.js';
import { LOG_HIGH_WATER_LINES } from '../agent/log-streamer.js';

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const agents = size(opts, 'logs_agents', 50, 3);
  const perJob = size(opts, 'logs_lines', 20_000, 100);
  const watchers = size(opts, 'logs_watchers', 10, 2);
  const total = agents * perJob;
  const rows: BenchResult['rows'] = [];
  for (const kind of opts.dbs) {
    rows.push(
      await withSystem(kind, opts, 'logs', async ({ coordinator, agents: startAgents }) => {
        const sub = new Submitter(coordinator.url);
        const jobs = await sub.many(agents, 10, (i) => benchSpec(i, agents));
        sub.close();
        const watch = startTsChild('watchers.ts', { url: coordinator.url, watchers, jobIds: jobs.map((j) => j.jobId) });
        try {
          await watch.next('ready', 60_000);
          const watchCpu0 = (await watch.request<{ cpu_us: number }>('stats')).cpu_us;
          const before = await coordinator.stats();
          const host = await startAgents({ agents, slotsPerAgent: 1, logLines: perJob });
          const stored = await host.request<{ at_ns: string }>('wait', { passed: agents });
          const delivered = await watch.request<{ at_ns: string }>('wait', { lines: total }, 300_000);
          const after = await coordinator.stats();
          const hostCpuUs = (await host.request<{ cpu_us: number }>('stats')).cpu_us;
          const st = await watch.request<{ cpu_us: number; lines: number[]; latencies: number[]; to_coordinator: number[]; to_watcher: number[]; first_line_ns: string }>('stats');
          const t0 = BigInt(st.first_line_ns);
          const storedS = Number(BigInt(stored.at_ns) - t0) / 1e9;
          const deliveredS = Number(BigInt(delivered.at_ns) - t0) / 1e9;
          const lat = summary(st.latencies);
          const up = summary(st.to_coordinator);
          const down = summary(st.to_watcher);
          const cpu = cpuBetween(before, after);
          return {
            db: kind,
            agents,
            watchers,
            lines: total,
            stored_lines_per_s: round(total / storedS),
            delivered_lines_per_s: round(total / deliveredS),
            deliveries_per_s: round((total * watchers) / deliveredS),
            latency_p50_ms: round(lat.p50),
            latency_p99_ms: round(lat.p99),
            latency_max_ms: round(lat.max),
            to_coordinator_p50_ms: round(up.p50),
            to_coordinator_p99_ms: round(up.p99),
            to_watcher_p50_ms: round(down.p50),
            to_watcher_p99_ms: round(down.p99),
            lost_lines: st.lines.reduce((n, l) => n + Math.max(0, total - l), 0),
            coordinator_cores: round(cpu.cores),
            coordinator_cpu_ms_per_1k_lines: round((cpu.cpuMs / total) * 1000),
            coordinator_rss_mb: round(after.rss / 2 ** 20),
            agents_cpu_ms_per_1k_lines: round((hostCpuUs / 1000 / total) * 1000),
            watchers_cpu_ms_per_1k_lines: round(((st.cpu_us - watchCpu0) / 1000 / total) * 1000),
          };
        } finally {
          await watch.request('close', {}, 10_000).catch(() => undefined);
          await watch.stop(5_000);
        }
      }),
    );
  }
  return {
    bench: 'logs',
    rows,
    notes: [`${agents} agents × 1 job × ${perJob} lines of 80 characters; ${watchers} watchers each following all ${agents} jobs; latency sampled on every 10th line a watcher gets`,
      `"as fast as allowed": a noop job writes its next line only while its streamer holds fewer than ${LOG_HIGH_WATER_LINES} lines not yet acknowledged by the coordinator (the agent's default high-water mark); the line's timestamp is taken when it is written, so the wait for room is not latency`,
      'agents_cpu / watchers_cpu: the agent host process (all its agents, start-up included) and the watchers process (all its watchers, from their subscriptions on), per 1000 lines stored',
      'to_coordinator: the line reaching the agent\'s streamer → the coordinator taking its chunk (before storing it); to_watcher: from there → the watcher got it (wall-clock ms)',
    ],
  };
}

if (isMain(import.meta.url)) await main(run);
