/**
 * The dispatcher: asks the pure scheduler which queued job goes to which free slot, makes each
 * decision an attempt (stored first), pushes it to the agent and waits for its acknowledgement.
 * It also holds the attempts' leases: a lease is renewed by the agent's heartbeats while the job
 * is still on that attempt and, when it runs out, the attempt is lost and the job runs again
 * elsewhere (or ends in `error`).
 *
 * A slot holds an attempt from the decision until the agent is done with it: its `finished`
 * (whatever the coordinator makes of it), or a heartbeat that no longer lists it once the
 * coordinator holds no lease for it. So a slot is never handed a new job while its agent may still
 * be stopping the old one.
 */
import { channel } from 'node:diagnostics_channel';
import type { AssignedBuild, Assignment, ErrorReason, Platform, RunningAttempt, Target } from '../../shared/index.js';
import { type Decision, type SchedulerInput, type SchedulerPolicy, type SlotIndex, scheduleRound, waitExplainer } from '../scheduler/index.js';
import { type JobService, queuedSinceMs } from '../jobs/job-service.js';
import type { JobRow } from '../store/index.js';
import type { JobObserver } from '../jobs/job-observer.js';
import type { Logger } from '../log.js';
import type { Fleet, RunningJob, SlotEntry } from './fleet.js';

export interface DispatcherOptions {
  /** An attempt's lease (ms): lost when no heartbeat renews it for this long. */
  leaseMs: number;
  /** An assignment not acknowledged within this time (ms) is taken back. */
  assignAckTimeoutMs: number;
  /** The scheduling policy (org weights, aging bound, install cost, cloud caps, …); defaults in scheduler/types.ts. */
  policy?: Partial<SchedulerPolicy>;
  /** The build an assignment of this job carries (the build registry); absent: always null (the agent provides it). */
  resolveBuild?: (job: { appVersionId: string; buildMode?: string | null }) => Promise<AssignedBuild | null>;
  /** Told when an agent acknowledges an assignment, with the job's time in its queue (the metrics). */
  observer?: Pick<JobObserver, 'dispatched'>;
}

interface Lease {
  jobId: string;
  slotKey: string;
  expiresAtMs: number;
}

const RESERVED = 'reserved:';
const NOTHING: { decisions: Decision[]; wakeAtMs: null } = { decisions: [], wakeAtMs: null };

/** The log fields of a slot key (`<agentId>/<slotId>`). */
function slotFields(slotKey: string): { agent_id: string; slot_id: string } {
  const i = slotKey.indexOf('/');
  return { agent_id: slotKey.slice(0, i), slot_id: slotKey.slice(i + 1) };
}

/** Each round's decision time (`{ ms, decisions }`) for benchmarks; costs nothing while nobody subscribes. */
export const roundChannel = channel('qgjob:dispatcher:round');

export class Dispatcher {
  readonly #leases = new Map<string, Lease>();
  #scheduled = false;
  #closed = false;
  #wake: NodeJS.Timeout | null = null;

  constructor(
    private readonly service: JobService,
    private readonly fleet: Fleet,
    private readonly opts: DispatcherOptions,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {
    service.onQueued = () => this.schedule();
    service.onChanged = (jobId) => fleet.jobChanged(jobId);
    service.waitingReasons = () => {
      let explain: ReturnType<typeof waitExplainer> | undefined;
      return (jobId) => {
        const job = service.queues.get(jobId);
        if (!job) return null;
        explain ??= waitExplainer(this.#input());
        return explain(job).message;
      };
    };
  }

  /** The policy rounds get: the options' policy with the fleet's cloud caps (rebuilt only when those change). */
  #policy: Partial<SchedulerPolicy> = {};
  #policyCaps: Readonly<Record<string, number>> | null = null;
  /** What a held slot runs, filled by `#describe` (one object, reused: the fleet copies it). */
  readonly #running: RunningJob = { orgId: '', appVersionId: '', busyUntilMs: 0 };
  #nowMs = 0;
  readonly #jobOf = (jobId: string): JobRow | undefined => this.service.active(jobId);
  readonly #describe = (entry: SlotEntry, job: JobRow): RunningJob => {
    // Expected end: the job's start (or assignment, plus an install if it needs one) plus a typical run.
    const policy = this.#policy;
    const installing = job.startedAtMs === null && entry.info.installed_app_version_id !== job.appVersionId;
    const from = job.startedAtMs ?? job.assignedAtMs;
    const running = this.#running;
    running.orgId = job.orgId;
    running.appVersionId = job.appVersionId;
    running.busyUntilMs = Number(from ?? this.#nowMs) + (installing ? (policy.installCostMs ?? 60_000) : 0) + (policy.defaultJobDurationMs ?? 60_000);
    running.volatile = from === null || from === undefined;
    return running;
  };

  /**
   * What the scheduler sees: the queues, every slot (with what a busy one runs and until when), the
   * time, the policy. Costs O(slots changed since the last round): the fleet re-derives only those.
   */
  #input(): SchedulerInput & { slots: SlotIndex } {
    const nowMs = (this.#nowMs = this.now());
    // The options' policy (install cost, job duration) does not change: only the caps can.
    if (this.#policyCaps === null) this.#policy = { ...this.opts.policy };
    const slots = this.fleet.syncIndex(this.#jobOf, this.#describe);
    const caps = this.fleet.cloudCaps();
    if (caps !== this.#policyCaps) {
      this.#policy = { ...this.opts.policy, cloudCaps: { ...caps, ...this.opts.policy?.cloudCaps } };
      this.#policyCaps = caps;
    }
    return { queues: this.service.queues, slots, nowMs, policy: this.#policy };
  }

  /** Asks for a scheduling round soon; many calls in one tick make one round. */
  schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#closed) return;
      try {
        this.#round();
      } catch (err) {
        this.log.error({ err }, 'scheduling round failed; trying again on the next event');
      }
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#wake) clearTimeout(this.#wake);
  }

  #round(): void {
    const t0 = roundChannel.hasSubscribers ? performance.now() : 0;
    const input = this.#input();
    // No free slot (a job arrived at a busy fleet): the round would decide nothing and ask for no wake-up.
    const { decisions, wakeAtMs } = input.slots.freeCount() === 0 ? NOTHING : scheduleRound(input);
    if (t0) roundChannel.publish({ ms: performance.now() - t0, decisions: decisions.length });
    // A job held for a busy warm slot is looked at again when its hold ends, even if nothing happens.
    if (this.#wake) clearTimeout(this.#wake);
    // At least 50 ms apart, so a hold that keeps ending "now" cannot spin the event loop.
    this.#wake = wakeAtMs === null ? null : setTimeout(() => this.schedule(), Math.max(50, wakeAtMs - this.now()));
    for (const d of decisions) {
      const slot = this.fleet.slot(d.slotKey);
      if (!slot || slot.attemptId !== null) continue;
      // Reserve the slot and take the job out of its queue until the attempt is written.
      slot.attemptId = `${RESERVED}${d.jobId}`;
      slot.jobId = d.jobId;
      this.service.queues.remove(d.jobId);
      void this.#launch(d).catch((err: unknown) => {
        this.log.warn({ job_id: d.jobId, ...slotFields(d.slotKey) }, `dispatch of ${d.jobId} to ${d.slotKey} failed: ${(err as Error).message}; the job stays queued and is tried again in 1 s`);
        this.#free(d.slotKey, `${RESERVED}${d.jobId}`);
        // Not at once: a store that fails fast would otherwise spin on the same job and slot.
        setTimeout(() => {
          this.service.reindex(d.jobId);
          this.schedule();
        }, 1000).unref();
      });
    }
  }

  async #launch(d: Decision): Promise<void> {
    const reserved = this.fleet.slot(d.slotKey)!;
    const { agentId } = reserved;
    // Looked up before the attempt is written: if the store cannot answer, the job simply stays queued.
    const queued = this.service.active(d.jobId);
    const enteredQueueMs = queued && queued.status === 'queued' ? queuedSinceMs(queued) : null;
    const build = queued && this.opts.resolveBuild ? await this.opts.resolveBuild(queued) : null;
    const assigned = await this.service.assign(d.jobId, { agentId, slotId: reserved.info.slot_id, slotKey: d.slotKey }, d.why);
    if (!assigned) {
      this.#free(d.slotKey, `${RESERVED}${d.jobId}`);
      this.schedule();
      return;
    }
    const { row, attemptId } = assigned;
    // The ids as fields of each line (not a child logger per job: pino serialises a child's bindings when it is made).
    const ids = { job_id: row.id, attempt_id: attemptId, agent_id: agentId, slot_id: reserved.info.slot_id };
    this.#leases.set(attemptId, { jobId: row.id, slotKey: d.slotKey, expiresAtMs: this.now() + this.opts.leaseMs });
    // The agent may have re-registered while the attempt was written: look its slot and socket up again.
    const slot = this.fleet.slot(d.slotKey);
    const socket = this.fleet.agents.get(agentId)?.socket ?? null;
    if (slot && (slot.attemptId === `${RESERVED}${d.jobId}` || slot.attemptId === null)) {
      slot.attemptId = attemptId;
      slot.jobId = row.id;
    }
    const assignment: Assignment = {
      job_id: row.id,
      attempt_id: attemptId,
      attempt: row.attempts,
      slot_id: reserved.info.slot_id,
      org_id: row.orgId,
      app_version_id: row.appVersionId,
      test_path: row.testPath,
      target: row.target as Target,
      platform: row.platform as Platform,
      priority: row.priority,
      test_retries: row.testRetries,
      build,
    };
    let refusal: string | null = null;
    let reason: ErrorReason = 'assignment_refused';
    if (!socket || !slot) {
      refusal = 'the agent disconnected before the assignment was sent';
      reason = 'agent_lost';
    } else {
      try {
        const ack = await socket.timeout(this.opts.assignAckTimeoutMs).emitWithAck('assign', assignment);
        if (!ack.ok) refusal = `the agent refused it: ${ack.error.message}`;
        else {
          const waitMs = enteredQueueMs === null ? null : Math.max(0, this.now() - enteredQueueMs);
          if (waitMs !== null) this.opts.observer?.dispatched(waitMs);
          this.log.info(ids, `attempt ${row.attempts} of ${row.id} assigned to ${d.slotKey}${waitMs === null ? '' : ` after ${waitMs} ms in the queue`}`);
        }
      } catch {
        refusal = `the agent did not acknowledge it within ${this.opts.assignAckTimeoutMs} ms`;
        reason = 'assignment_unacknowledged';
      }
    }
    if (refusal) {
      this.log.warn(ids, `assignment ${attemptId} taken back from ${d.slotKey}: ${refusal}; the job goes back to its queue or ends in error`);
      // A refused attempt never ran: free the slot now. An unacknowledged one may have reached the
      // agent: the slot stays held until a heartbeat shows the agent does not run it.
      if (reason !== 'assignment_unacknowledged') this.#free(d.slotKey, attemptId);
      await this.#lose(attemptId, reason, refusal);
      this.schedule();
    }
  }

  /** Ends an attempt the coordinator gives up on; the lease stays (expired) if the store did not take it, so the sweep retries. */
  async #lose(attemptId: string, reason: ErrorReason, message: string): Promise<boolean> {
    const lease = this.#leases.get(attemptId);
    if (!lease) return false;
    lease.expiresAtMs = Math.min(lease.expiresAtMs, this.now());
    const lost = await this.service.attemptLost(lease.jobId, attemptId, reason, message, lease.slotKey);
    this.#leases.delete(attemptId);
    return lost;
  }

  /**
   * An agent's heartbeat (or register): renews the leases of attempts it runs that are still
   * current, frees its slots whose attempt it no longer runs and the coordinator no longer holds,
   * and returns the attempts it should stop (not current any more: cancelled, lost, replaced).
   */
  renew(agentId: string, running: readonly RunningAttempt[]): string[] {
    const stop: string[] = [];
    const until = this.now() + this.opts.leaseMs;
    const reported = new Set<string>();
    for (const r of running) {
      reported.add(r.attempt_id);
      const lease = this.#leases.get(r.attempt_id);
      const current = this.service.active(r.job_id)?.attemptId === r.attempt_id;
      if (lease && current && lease.slotKey.startsWith(`${agentId}/`)) lease.expiresAtMs = until;
      else stop.push(r.attempt_id);
    }
    const agent = this.fleet.agents.get(agentId);
    if (agent) agent.lastRunning = reported;
    for (const slot of agent?.slots.values() ?? []) {
      const held = slot.attemptId;
      if (held && !held.startsWith(RESERVED) && !reported.has(held) && !this.#leases.has(held)) this.#free(slot.key, held);
    }
    return stop;
  }

  /** Keeps the attempts found on slots at start-up, with `graceMs` for their agents to come back and report them. */
  adopt(rows: ReadonlyArray<{ id: string; attemptId: string | null; agentId: string | null; slotId: string | null }>, graceMs: number): void {
    for (const r of rows) {
      if (!r.attemptId || !r.agentId || !r.slotId) continue;
      this.#leases.set(r.attemptId, { jobId: r.id, slotKey: `${r.agentId}/${r.slotId}`, expiresAtMs: this.now() + graceMs });
    }
  }

  /** Attempts the coordinator holds for `slotKey` (a lease): for an agent that re-registers. */
  leasedOn(slotKey: string): Array<{ attemptId: string; jobId: string }> {
    const out: Array<{ attemptId: string; jobId: string }> = [];
    for (const [attemptId, l] of this.#leases) if (l.slotKey === slotKey) out.push({ attemptId, jobId: l.jobId });
    return out;
  }

  /** The agent reported the attempt over (result stored, or refused as stale): free its slot and look for work. */
  attemptEnded(attemptId: string, slotKey: string): void {
    this.#leases.delete(attemptId);
    this.#free(slotKey, attemptId);
    this.schedule();
  }

  /** An agent re-registered without an attempt the coordinator still holds for it: the attempt is lost. */
  async agentForgot(attemptId: string, message: string): Promise<void> {
    await this.#lose(attemptId, 'agent_lost', message);
    this.schedule();
  }

  /**
   * Called by the sweep timer: ends running jobs past their deadline (`timed_out`, and the agent is
   * told to stop), and loses every attempt whose lease ran out.
   */
  async sweep(): Promise<void> {
    const now = this.now();
    // A slot held for an attempt the coordinator no longer leases (an unacknowledged assignment, a
    // timed-out job) is freed by its agent's next report; an agent gone for a lease never reports.
    for (const agent of this.fleet.agents.values()) {
      if (agent.socket || now - agent.lastSeenMs < this.opts.leaseMs) continue;
      for (const slot of agent.slots.values()) {
        const held = slot.attemptId;
        if (held && !held.startsWith(RESERVED) && !this.#leases.has(held)) this.#free(slot.key, held);
      }
    }
    for (const row of this.service.overdue(now)) {
      try {
        if (row.attemptId && (await this.service.timeOut(row.id, row.attemptId))) {
          this.log.warn({ job_id: row.id, attempt_id: row.attemptId, agent_id: row.agentId, slot_id: row.slotId }, `job ${row.id} timed out after ${row.timeoutMs} ms; stopping attempt ${row.attemptId}`);
          this.#leases.delete(row.attemptId);
          const socket = row.agentId ? this.fleet.agents.get(row.agentId)?.socket : null;
          socket?.emit('cancel', { job_id: row.id, attempt_id: row.attemptId, reason: `the job ran past its ${row.timeoutMs} ms deadline` });
        }
      } catch (err) {
        this.log.warn({ job_id: row.id, attempt_id: row.attemptId, agent_id: row.agentId, slot_id: row.slotId }, `could not time out ${row.id}: ${(err as Error).message}; retrying on the next sweep`);
      }
    }
    for (const [attemptId, lease] of [...this.#leases]) {
      if (lease.expiresAtMs > now) continue;
      // Free the slot unless its agent still says it runs the attempt (then its next report frees it).
      const agent = this.fleet.agents.get(lease.slotKey.slice(0, lease.slotKey.indexOf('/')));
      if (!agent?.socket || !agent.lastRunning.has(attemptId)) this.#free(lease.slotKey, attemptId);
      try {
        const why = `no heartbeat from ${lease.slotKey} for ${this.opts.leaseMs} ms`;
        if (await this.#lose(attemptId, 'agent_lost', why)) {
          this.log.warn({ job_id: lease.jobId, attempt_id: attemptId, ...slotFields(lease.slotKey) }, `attempt ${attemptId} lost: ${why}; the job runs again or ends in error`);
        }
      } catch (err) {
        this.log.warn({ job_id: lease.jobId, attempt_id: attemptId, ...slotFields(lease.slotKey) }, `could not record the loss of ${attemptId}: ${(err as Error).message}; retrying on the next sweep`);
      }
    }
    this.schedule();
  }

  #free(slotKey: string, attemptId: string): void {
    const slot: SlotEntry | undefined = this.fleet.slot(slotKey);
    if (slot && slot.attemptId === attemptId) {
      slot.attemptId = null;
      slot.jobId = null;
    }
  }
}
