/**
 * The dispatcher: asks the pure scheduler which queued job goes to which free slot, makes each
 * decision an attempt (stored first), pushes it to the agent and waits for its acknowledgement.
 * It also holds the attempts' leases: a lease is renewed by the agent's heartbeats and, when it
 * runs out, the attempt is lost and the job runs again elsewhere (or ends in `error`).
 */
import type { Assignment, ErrorReason, Platform, Target } from '../../shared/index.js';
import { explainWait, planAssignments, type Decision } from '../scheduler/index.js';
import type { JobService } from '../jobs/job-service.js';
import type { Fleet } from './fleet.js';

export interface DispatcherOptions {
  /** An attempt's lease (ms): lost when no heartbeat renews it for this long. */
  leaseMs: number;
  /** An assignment not acknowledged within this time (ms) is taken back. */
  assignAckTimeoutMs: number;
}

interface Lease {
  jobId: string;
  slotKey: string;
  expiresAtMs: number;
}

export class Dispatcher {
  readonly #leases = new Map<string, Lease>();
  #scheduled = false;
  #closed = false;
  /** Decisions made, by reason, since start (affinity vs install). */
  readonly decisions = { affinity: 0, install: 0 };

  constructor(
    private readonly service: JobService,
    private readonly fleet: Fleet,
    private readonly opts: DispatcherOptions,
    private readonly now: () => number,
    private readonly log: (line: string) => void,
  ) {
    service.onQueued = () => this.schedule();
    service.waitingReason = (jobId) => {
      const job = service.queues.get(jobId);
      return job ? explainWait(job, service.queues.byVersion, fleet.slotStates()) : null;
    };
  }

  /** Asks for a scheduling round soon; many calls in one tick make one round. */
  schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#closed) this.#round();
    });
  }

  close(): void {
    this.#closed = true;
  }

  #round(): void {
    const decisions = planAssignments(this.service.queues.byVersion, this.fleet.slotStates(), this.now());
    for (const d of decisions) {
      const slot = this.fleet.slot(d.slotKey)!;
      // Reserve the slot now so the next round does not pick it again while the write is under way.
      slot.attemptId = `reserved:${d.jobId}`;
      slot.jobId = d.jobId;
      this.decisions[d.reason]++;
      void this.#launch(d).catch((err: unknown) => {
        this.log(`dispatch of ${d.jobId} to ${d.slotKey} failed: ${(err as Error).message}; the slot is released and the job stays queued`);
        this.#releaseIf(d.slotKey, `reserved:${d.jobId}`);
        this.schedule();
      });
    }
  }

  async #launch(d: Decision): Promise<void> {
    const slot = this.fleet.slot(d.slotKey)!;
    const agent = this.fleet.agents.get(slot.agentId)!;
    const assigned = await this.service.assign(d.jobId, { agentId: slot.agentId, slotId: slot.info.slot_id, slotKey: d.slotKey });
    if (!assigned) {
      this.#releaseIf(d.slotKey, `reserved:${d.jobId}`);
      this.schedule();
      return;
    }
    const { row, attemptId } = assigned;
    slot.attemptId = attemptId;
    this.#leases.set(attemptId, { jobId: row.id, slotKey: d.slotKey, expiresAtMs: this.now() + this.opts.leaseMs });
    const assignment: Assignment = {
      job_id: row.id,
      attempt_id: attemptId,
      attempt: row.attempts,
      slot_id: slot.info.slot_id,
      org_id: row.orgId,
      app_version_id: row.appVersionId,
      test_path: row.testPath,
      target: row.target as Target,
      platform: row.platform as Platform,
      priority: row.priority,
    };
    const socket = agent.socket;
    let refusal: string | null = null;
    let reason: ErrorReason = 'assignment_refused';
    if (!socket) {
      refusal = 'the agent disconnected before the assignment was sent';
      reason = 'agent_lost';
    } else {
      try {
        const ack = await socket.timeout(this.opts.assignAckTimeoutMs).emitWithAck('assign', assignment);
        if (!ack.ok) refusal = `the agent refused it: ${ack.error.message}`;
      } catch {
        refusal = `the agent did not acknowledge it within ${this.opts.assignAckTimeoutMs} ms`;
        reason = 'assignment_unacknowledged';
      }
    }
    if (refusal) {
      this.log(`assignment ${attemptId} taken back from ${d.slotKey}: ${refusal}`);
      this.#leases.delete(attemptId);
      this.#releaseIf(d.slotKey, attemptId);
      await this.service.attemptLost(row.id, attemptId, reason, refusal, d.slotKey);
      this.schedule();
    }
  }

  /** Renews the leases of what an agent says it runs; returns the attempts it should stop. */
  renew(agentId: string, running: ReadonlyArray<{ attempt_id: string; job_id: string }>): string[] {
    const stop: string[] = [];
    const until = this.now() + this.opts.leaseMs;
    for (const r of running) {
      const lease = this.#leases.get(r.attempt_id);
      if (lease && lease.slotKey.startsWith(`${agentId}/`)) lease.expiresAtMs = until;
      else stop.push(r.attempt_id);
    }
    return stop;
  }

  /** Keeps the attempts found on slots at start-up, with one lease of grace for their agents to come back. */
  adopt(rows: ReadonlyArray<{ id: string; attemptId: string | null; agentId: string | null; slotId: string | null }>): void {
    for (const r of rows) {
      if (!r.attemptId || !r.agentId || !r.slotId) continue;
      this.#leases.set(r.attemptId, { jobId: r.id, slotKey: `${r.agentId}/${r.slotId}`, expiresAtMs: this.now() + this.opts.leaseMs });
    }
  }

  /** The attempt a lease says `slotKey` holds, if any (for an agent that re-registers). */
  attemptOn(slotKey: string): { attemptId: string; jobId: string } | null {
    for (const [attemptId, l] of this.#leases) if (l.slotKey === slotKey) return { attemptId, jobId: l.jobId };
    return null;
  }

  /** The attempt ended (result stored, or refused as stale): free its slot and look for work. */
  attemptEnded(attemptId: string): void {
    const lease = this.#leases.get(attemptId);
    this.#leases.delete(attemptId);
    if (lease) this.#releaseIf(lease.slotKey, attemptId);
    else for (const a of this.fleet.agents.values()) for (const s of a.slots.values()) if (s.attemptId === attemptId) this.#releaseIf(s.key, attemptId);
    this.schedule();
  }

  /** Loses every attempt whose lease ran out. Called by the lease sweep timer. */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const [attemptId, lease] of [...this.#leases]) {
      if (lease.expiresAtMs > now) continue;
      this.#leases.delete(attemptId);
      this.#releaseIf(lease.slotKey, attemptId);
      const lost = await this.service.attemptLost(
        lease.jobId,
        attemptId,
        'agent_lost',
        `no heartbeat from ${lease.slotKey} for ${this.opts.leaseMs} ms`,
        lease.slotKey,
      );
      if (lost) this.log(`lease of ${attemptId} on ${lease.slotKey} expired; job ${lease.jobId} handled by the retry policy`);
    }
    this.schedule();
  }

  #releaseIf(slotKey: string, attemptId: string): void {
    const slot = this.fleet.slot(slotKey);
    if (slot && slot.attemptId === attemptId) {
      slot.attemptId = null;
      slot.jobId = null;
    }
  }
}
