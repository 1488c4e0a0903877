/**
 * Benchmark 1, dispatch latency (`npm run bench:dispatch`): at light load (one job every 5 ms,
 * open loop), how long from a job's HTTP submit to its agent receiving the assignment, on SQLite
 * and MySQL. 50 agents (real `AgentProcess`es with noop slots, in another process) are connected;
 * each job passes at once, so slots are free again. Every slot reports the jobs' build installed (a
 * warm fleet), so no job is held for affinity (the scheduler's choice, measured by bench:scheduler).
 * Times are CLOCK_MONOTONIC in both processes.
 * Reported: from the request being sent (what a CI client waits, like BullMQ's add() call → its
 * processor starting) and from the 201 arriving (negative when the agent got the job first).
 */
import { type BenchOptions, type BenchResult, isMain, main, round, size, summary } from './lib/common.js';
import { withSystem } from './lib/fleet.js';
import { Submitter, benchSpec } from './lib/submit.js';

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const jobs = size(opts, 'dispatch_jobs', 2000, 20);
  const warmup = size(opts, 'dispatch_warmup', 300, 3);
  const agents = size(opts, 'dispatch_agents', 50, 3);
  const everyMs = size(opts, 'dispatch_every_ms', 5, 5);
  const rows: BenchResult['rows'] = [];
  for (const kind of opts.dbs) {
    rows.push(
      await withSystem(kind, opts, 'dispatch', async ({ coordinator, agents: startAgents }) => {
        const host = await startAgents({ agents, slotsPerAgent: 1, receipts: true, installed: ['bench-v0'] });
        const sub = new Submitter(coordinator.url);
        try {
          await sub.paced(warmup, everyMs, (i) => benchSpec(i));
          const measured = await sub.paced(jobs, everyMs, (i) => benchSpec(i));
          await host.request('wait', { passed: warmup + jobs });
          const { receipts } = await host.request<{ receipts: Array<[string, string]> }>('stats');
          const arrived = new Map(receipts.map(([id, ns]) => [id, BigInt(ns)]));
          const fromSend: number[] = [];
          const fromAccept: number[] = [];
          for (const s of measured) {
            const at = arrived.get(s.jobId);
            if (at === undefined) throw new Error(`job ${s.jobId} passed but its assignment was not recorded`);
            fromSend.push(Number(at - s.sentNs) / 1e6);
            fromAccept.push(Number(at - s.acceptedNs) / 1e6);
          }
          const http = summary(measured.map((s) => Number(s.acceptedNs - s.sentNs) / 1e6));
          const a = summary(fromSend);
          const b = summary(fromAccept);
          return {
            db: kind,
            jobs,
            agents,
            submit_to_assign_p50_ms: round(a.p50),
            submit_to_assign_p99_ms: round(a.p99),
            submit_to_assign_max_ms: round(a.max),
            accepted_to_assign_p50_ms: round(b.p50),
            accepted_to_assign_p99_ms: round(b.p99),
            http_201_p50_ms: round(http.p50),
            http_201_p99_ms: round(http.p99),
            http_resets: sub.resets,
          };
        } finally {
          sub.close();
        }
      }),
    );
  }
  return {
    bench: 'dispatch',
    rows,
    notes: [
      `one job every ${everyMs} ms after ${warmup} warm-up jobs; ${agents} agents × 1 noop slot in one other process, every slot with the jobs' build installed (a warm fleet: no job is held for affinity, so this is the coordinator's own path; with cold slots the scheduler holds a job for a busy slot that has its build rather than install it elsewhere, by design)`,
      'submit_to_assign: request sent → agent has the assignment; accepted_to_assign: 201 received → agent has it (the agent may get it first)',
    ],
  };
}

if (isMain(import.meta.url)) await main(run);
