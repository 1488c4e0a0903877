/**
 * Benchmark 2, throughput (`npm run bench:throughput`): no-op jobs submitted over HTTP (50
 * requests in flight), dispatched to 50 connected agents (real `AgentProcess`es with noop slots,
 * one Socket.IO connection each, in another process), finished and stored: jobs/s from the first
 * submit to the last result acknowledged (stored). Also the coordinator's CPU per job. SQLite and
 * MySQL. With `--cpu-prof <dir>` the coordinator writes a CPU profile of the run.
 */
import { type BenchOptions, type BenchResult, isMain, main, msSince, nowNs, round, size } from './lib/common.js';
import { cpuBetween } from './lib/coordinator.js';
import { withSystem } from './lib/fleet.js';
import { Submitter, benchSpec } from './lib/submit.js';

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const jobs = size(opts, 'throughput_jobs', 20_000, 20);
  const warmup = size(opts, 'throughput_warmup', 1000, 4);
  const agents = size(opts, 'throughput_agents', 50, 3);
  const inFlight = 50;
  const versions = 10;
  const rows: BenchResult['rows'] = [];
  for (const kind of opts.dbs) {
    rows.push(
      await withSystem(kind, opts, 'throughput', async ({ coordinator, agents: startAgents }) => {
        // A warm fleet: each version installed on agents/versions slots (the noop slot never installs).
        const host = await startAgents({ agents, slotsPerAgent: 1, installed: Array.from({ length: versions }, (_, v) => benchSpec(v, versions).app_version_id as string) });
        const sub = new Submitter(coordinator.url);
        try {
          await sub.many(warmup, inFlight, (i) => benchSpec(i, versions));
          await host.request('wait', { passed: warmup });
          const before = await coordinator.stats();
          const t0 = nowNs();
          await sub.many(jobs, inFlight, (i) => benchSpec(i, versions));
          const submitMs = msSince(t0);
          const done = await host.request<{ at_ns: string }>('wait', { passed: warmup + jobs });
          const wallMs = msSince(t0, BigInt(done.at_ns));
          const after = await coordinator.stats();
          const cpu = cpuBetween(before, after);
          return {
            db: kind,
            jobs,
            agents,
            jobs_per_s: round((jobs / wallMs) * 1000),
            submits_per_s: round((jobs / submitMs) * 1000),
            wall_s: round(wallMs / 1000),
            coordinator_cpu_ms_per_job: round(cpu.cpuMs / jobs),
            coordinator_cores: round(cpu.cores),
            coordinator_rss_mb: round(after.rss / 2 ** 20),
            http_resets: sub.resets,
          };
        } finally {
          sub.close();
        }
      }),
    );
  }
  return {
    bench: 'throughput',
    rows,
    notes: [
      `${jobs} no-op jobs over ${versions} app versions after ${warmup} warm-up jobs; ${inFlight} submits in flight; ${agents} agents × 1 noop slot, each version installed on ${agents / versions} of them (a warm fleet); each job: submit, assign, started, finished (1 test case) — 4 stored transitions`,
      'jobs_per_s: first submit → last result stored (acknowledged to its agent)',
    ],
  };
}

if (isMain(import.meta.url)) await main(run);
