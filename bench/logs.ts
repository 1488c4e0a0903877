/**
 * Benchmark 5, log streaming (`npm run bench:logs`): 50 agents (noop slots) each run one job that
 * emits lines as fast as the agent's log streamer allows (chunks of up to 500 lines, at most two
 * unacknowledged chunks in flight per job), while 10 watchers (`/watch`, in another process) each
 * follow all 50 jobs. Measured: lines/s stored (first line emitted → last job's result stored,
 * which comes after all its chunks were acknowledged), lines/s delivered to every watcher (→ the
 * last line reached the last watcher), and agent → watcher latency per line (sampled), p50/p99.
 */
import { type BenchOptions, type BenchResult, isMain, main, round, size, startTsChild, summary } from './lib/common.js';
import { cpuBetween } from './lib/coordinator.js';
import { withSystem } from './lib/fleet.js';
import { Submitter, benchSpec } from './lib/submit.js';

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
          const before = await coordinator.stats();
          const host = await startAgents({ agents, slotsPerAgent: 1, logLines: perJob });
          const stored = await host.request<{ at_ns: string }>('wait', { passed: agents });
          const delivered = await watch.request<{ at_ns: string }>('wait', { lines: total }, 300_000);
          const after = await coordinator.stats();
          const st = await watch.request<{ lines: number[]; latencies: number[]; first_line_ns: string }>('stats');
          const t0 = BigInt(st.first_line_ns);
          const storedS = Number(BigInt(stored.at_ns) - t0) / 1e9;
          const deliveredS = Number(BigInt(delivered.at_ns) - t0) / 1e9;
          const lat = summary(st.latencies);
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
            lost_lines: st.lines.reduce((n, l) => n + Math.max(0, total - l), 0),
            coordinator_cores: round(cpu.cores),
            coordinator_cpu_ms_per_1k_lines: round((cpu.cpuMs / total) * 1000),
            coordinator_rss_mb: round(after.rss / 2 ** 20),
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
    notes: [`${agents} agents × 1 job × ${perJob} lines of 80 characters; ${watchers} watchers each following all ${agents} jobs; latency sampled on every 10th line a watcher gets`],
  };
}

if (isMain(import.meta.url)) await main(run);
