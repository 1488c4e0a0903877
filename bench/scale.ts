/**
 * Benchmark 6, scale (`npm run bench:scale`): 1,000 agents × 5 slots connected (simulated agents
 * speaking the real `/agents` protocol over real sockets, in one other process: see
 * lib/sim-agents.ts) and 100,000 queued jobs over 1,000 app versions. 5,000 of them run (the
 * simulated agents keep them running), 95,000 stay queued. Measured on the coordinator process:
 * - start-up on an empty database, and with the 100,000 jobs to load back into their queues
 *   (the difference is the rebuild), and a restart with 95,000 queued + 5,000 on slots;
 * - RSS and heap with the fleet connected and the queues full;
 * - CPU while idle (only heartbeats, every 5 s per agent, and the lease sweep);
 * - scheduling decision time: jobs finish one every 20 ms, each frees a slot and the round that
 *   fills it is timed inside the coordinator (probe on the dispatcher's round channel), p50/p99;
 *   plus result acknowledged → next assignment on that slot, as the agent sees it.
 * The jobs are written straight into the store in batches (same rows and first event as a submit
 * writes) to keep the run short; HTTP submits are benchmark 4.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BenchOptions, type BenchResult, isMain, main, msSince, nowNs, repoRoot, round, size, startTsChild, summary } from './lib/common.js';
import { type BenchDatabase, type CoordinatorChild, cpuBetween, createDatabase, startCoordinatorChild } from './lib/coordinator.js';

type StoreModule = typeof import('../coordinator/store/index.js');
type EntitiesModule = typeof import('../coordinator/store/entities.js');
type JobServiceModule = typeof import('../coordinator/jobs/job-service.js');
type SharedModule = typeof import('../shared/index.js');
const dist = (rel: string) => pathToFileURL(join(repoRoot, 'dist', rel)).href;

/** Writes `jobs` queued jobs over `versions` versions, as submits would, in transactions of 1,000. */
async function seed(db: BenchDatabase, jobs: number, versions: number): Promise<number> {
  const { JobStore, parseDatabaseUrl } = (await import(dist('coordinator/store/index.js'))) as StoreModule;
  const { JobEntity, JobEventEntity } = (await import(dist('coordinator/store/entities.js'))) as EntitiesModule;
  const { newQueuedJob } = (await import(dist('coordinator/jobs/job-service.js'))) as JobServiceModule;
  const { JobSpec } = (await import(dist('shared/index.js'))) as SharedModule;
  const store = await JobStore.open(parseDatabaseUrl(db.url));
  const t0 = nowNs();
  try {
    for (let i = 0; i < jobs; i += 1000) {
      const now = Date.now();
      // Exactly what a submit stores (the job service's own row and first event), 1,000 per transaction.
      const made = Array.from({ length: Math.min(1000, jobs - i) }, (_, k) =>
        newQueuedJob(JobSpec.parse({ org_id: `org-${(i + k) % 10}`, app_version_id: `v${(i + k) % versions}`, test_path: 'tests/noop.spec.js', target: 'emulator' }), now, { resubmittedFrom: null }),
      );
      const rows = made.map((m) => m.row);
      const events = made.map((m) => m.event);
      await store.entityManager().transactional(async (em) => {
        await em.insertMany(JobEntity, rows);
        await em.insertMany(JobEventEntity, events);
      });
    }
  } finally {
    await store.close();
  }
  return msSince(t0);
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const agents = size(opts, 'scale_agents', 1000, 10);
  const slots = size(opts, 'scale_slots', 5, 5);
  const jobs = size(opts, 'scale_jobs', 100_000, 300);
  const versions = size(opts, 'scale_versions', 1000, 5);
  const idleS = size(opts, 'scale_idle_s', 30, 1);
  const finishes = size(opts, 'scale_finishes', 500, 10);
  const rows: BenchResult['rows'] = [];
  for (const kind of opts.dbs) {
    const db = await createDatabase(kind, opts, 'scale');
    let coordinator: CoordinatorChild | null = null;
    let sim: ReturnType<typeof startTsChild> | null = null;
    try {
      coordinator = await startCoordinatorChild(db);
      const emptyStartMs = coordinator.startMs;
      await coordinator.stop();
      const seedMs = await seed(db, jobs, versions);
      coordinator = await startCoordinatorChild(db, { cpuProfDir: opts.cpuProfDir, profName: `scale-${kind}-${Date.now()}.cpuprofile` });
      const loadedStartMs = coordinator.startMs;
      const fresh = await coordinator.stats();

      sim = startTsChild('sim-agents.ts', { url: coordinator.url, agents, slotsPerAgent: slots });
      const tConnect = nowNs();
      await sim.next('ready', 300_000);
      const connectMs = msSince(tConnect);
      const running = Math.min(jobs, agents * slots);
      await sim.request('wait', { started: running });
      const fillMs = msSince(tConnect);

      // Idle: only heartbeats and the sweep. Let the burst settle first.
      await new Promise((r) => setTimeout(r, opts.smoke ? 500 : 5000));
      const h0 = await sim.request<{ heartbeats: number }>('stats'); // also drops the heartbeat times of the burst
      const i0 = await coordinator.stats();
      await new Promise((r) => setTimeout(r, idleS * 1000));
      const i1 = await coordinator.stats();
      const idle = cpuBetween(i0, i1);
      const hb = await sim.request<{ heartbeats: number; heartbeat_rtt_ms: number[] }>('stats');

      // Decisions: one slot frees every 20 ms; each round that fills it is timed in the coordinator.
      await coordinator.resetRounds();
      const { refill_ms } = await sim.request<{ refill_ms: number[] }>('finish', { count: finishes, everyMs: 20 });
      const probe = await coordinator.stats();
      const withDecision = probe.rounds.filter((_, k) => probe.decisions[k]! > 0);
      const dec = summary(withDecision);
      const all = summary(probe.rounds);
      const refill = summary(refill_ms);
      const hbRtt = summary(hb.heartbeat_rtt_ms);

      await sim.request('close', {}, 30_000).catch(() => undefined);
      await sim.stop(5_000);
      sim = null;
      await coordinator.stop();
      coordinator = await startCoordinatorChild(db);
      const restartMs = coordinator.startMs;
      const restarted = await coordinator.stats();
      rows.push({
        db: kind,
        agents,
        slots: agents * slots,
        jobs,
        versions,
        seed_s: round(seedMs / 1000),
        start_empty_ms: round(emptyStartMs),
        start_with_jobs_ms: round(loadedStartMs),
        rebuild_ms: round(loadedStartMs - emptyStartMs),
        restart_ms: round(restartMs),
        connect_s: round(connectMs / 1000),
        fill_slots_s: round(fillMs / 1000),
        rss_mb_queued: round(fresh.rss / 2 ** 20),
        rss_mb_fleet: round(i1.rss / 2 ** 20),
        heap_mb_fleet: round(i1.heap_used / 2 ** 20),
        rss_mb_restarted: round(restarted.rss / 2 ** 20),
        idle_cpu_pct: round(idle.cores * 100),
        heartbeats_per_s: round(((hb.heartbeats - h0.heartbeats) / idle.wallMs) * 1000),
        heartbeat_rtt_p99_ms: round(hbRtt.p99),
        decision_rounds: dec.n,
        decision_p50_ms: round(dec.p50),
        decision_p99_ms: round(dec.p99),
        decision_max_ms: round(dec.max),
        all_rounds_p99_ms: round(all.p99),
        refill_p50_ms: round(refill.p50),
        refill_p99_ms: round(refill.p99),
      });
    } catch (err) {
      throw new Error(`${(err as Error).stack ?? String(err)}\n--- simulated agents (tail) ---\n${sim?.stderr.slice(-2000) ?? ''}\n--- coordinator (tail) ---\n${coordinator?.proc.stderr.slice(-2000) ?? ''}`);
    } finally {
      if (sim) {
        await sim.request('close', {}, 30_000).catch(() => undefined);
        await sim.stop(5_000);
      }
      await coordinator?.stop();
      await db.drop();
    }
  }
  return {
    bench: 'scale',
    rows,
    notes: [
      `${agents} simulated agents × ${slots} slots (raw /agents protocol, one process); ${jobs} jobs over ${versions} versions written to the store before the coordinator starts`,
      'rebuild_ms = start with the jobs − start on an empty database (both: spawn → listening); restart_ms: spawn → listening with the jobs queued and on slots',
      `idle: ${idleS} s with only heartbeats and the lease sweep; decision: the dispatcher's round (scheduler input + scheduleRound) for rounds that placed a job, ${finishes} jobs finishing 20 ms apart; refill: result acknowledged → next assignment on that slot, at the agent`,
    ],
  };
}

if (isMain(import.meta.url)) await main(run);
