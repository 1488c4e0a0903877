/**
 * The `/dashboard` namespace: pushes the coordinator's state to web pages. A page gets a full
 * snapshot when it connects, then updates when something changes: job events from the job
 * service (it is one of its event sinks), the queue index, and the fleet (every message on the
 * `/agents` namespace may change a slot). Changes are coalesced: at most one push per
 * `pushIntervalMs` to each viewer, carrying only the sections whose content changed, plus the new
 * log lines of running jobs. Nothing is sent while no page is connected.
 *
 * Each connection acts as the principal of its handshake token (`auth.token`); pages of one
 * principal share a room, and every section is built per room, filtered for it.
 */
import type { Namespace, Socket } from 'socket.io';
import {
  type CoordinatorToDashboard,
  type DashboardConnectError,
  type DashboardRun,
  type DashboardRunningJob,
  type DashboardSnapshot,
  type DashboardToCoordinator,
  type DashboardUpdate,
  FINAL_STATES,
  type JobEvent,
  type JobView,
  type RunView,
} from '../../shared/index.js';
import type { Fleet } from '../agents/fleet.js';
import { type Principal, TokenBook, canAccess } from '../auth/tokens.js';
import type { JobEventSink, JobService } from '../jobs/job-service.js';
import { LogTails } from './log-tails.js';
import { RecentResults } from './recent-results.js';
import { agentsFor, queuesFor, resultOf, runOf, runningJobOf } from './views.js';

/** The runs a viewer may see, newest first (`org_id` null: every org). */
export type RunsProvider = (query: { org_id: string | null; limit: number }) => Promise<RunView[]>;

export interface DashboardOptions {
  /** Who may connect. Default `TokenBook.open()` (no tokens: every page sees every org). */
  tokens?: TokenBook;
  /** The coordinator's version, shown in the header. */
  version: string;
  now?: () => number;
  log?: (line: string) => void;
  /** Least time between two pushes to a viewer (ms). Default 250. */
  pushIntervalMs?: number;
  /** Least time between two reads of the runs provider (ms). Default 1000. */
  runsIntervalMs?: number;
  /** Log lines kept per running job. Default 30. */
  tailLines?: number;
  /** Ended jobs listed per viewer. Default 50. */
  recentLimit?: number;
  /** Runs listed per viewer. Default 20. */
  runsLimit?: number;
}

/** What the dashboard reads, given once the coordinator has built it. */
export interface DashboardSources {
  service: JobService;
  fleet: Fleet;
  /** The `/agents` namespace: its traffic is how the dashboard learns that the fleet changed. */
  agents?: Pick<Namespace, 'on'>;
  /** Runs for the runs panel; without it the panel says there are none. */
  runs?: RunsProvider;
}

type Section = 'queues' | 'agents' | 'running' | 'recent' | 'runs';
type SocketData = { org: string };
type DashboardNamespace = Namespace<DashboardToCoordinator, CoordinatorToDashboard, Record<string, never>, SocketData>;
type DashboardSocket = Socket<DashboardToCoordinator, CoordinatorToDashboard, Record<string, never>, SocketData>;

/** A section's content for "did it change": an agent's `last_seen_at` moves with every heartbeat and alone is no change. */
const fingerprint = (value: unknown): string => JSON.stringify(value, (k, v: unknown) => (k === 'last_seen_at' ? undefined : v));

const ROOM = 'viewer:';
const roomOf = (org: string): string => `${ROOM}${org}`;

export class DashboardHub implements JobEventSink {
  /** The coordinator's version, sent in snapshots. */
  readonly version: string;
  readonly #nsp: DashboardNamespace;
  readonly #tokens: TokenBook;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #pushIntervalMs: number;
  readonly #runsIntervalMs: number;
  readonly #runsLimit: number;
  readonly #tails: LogTails;
  readonly #recent: RecentResults;
  #src: DashboardSources | null = null;

  #dirty = new Set<Section>();
  #timer: NodeJS.Timeout | null = null;
  #lastPushMs = -Infinity;
  /** What each room was last sent, per section (JSON), so unchanged sections are not sent again. */
  readonly #sent = new Map<string, Map<Section, string>>();
  /** The org of the last job that started on each slot (`agent/slot`): whose build it has installed. */
  readonly #slotOrg = new Map<string, string>();
  readonly #runs = { timer: null as NodeJS.Timeout | null, busy: false, again: false, lastMs: -Infinity, failing: false };
  #closed = false;

  constructor(nsp: Namespace, opts: DashboardOptions) {
    this.#nsp = nsp as unknown as DashboardNamespace;
    this.#tokens = opts.tokens ?? TokenBook.open();
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? (() => {});
    this.#pushIntervalMs = opts.pushIntervalMs ?? 250;
    this.#runsIntervalMs = opts.runsIntervalMs ?? 1000;
    this.#runsLimit = opts.runsLimit ?? 20;
    this.#tails = new LogTails(opts.tailLines ?? 30);
    this.#recent = new RecentResults((org, limit) => this.#loadResults(org, limit), this.#log, opts.recentLimit ?? 50);
    this.version = opts.version;

    this.#nsp.use((socket, next) => {
      const raw: unknown = socket.handshake.auth?.token;
      const token = typeof raw === 'string' && raw !== '' ? raw : null;
      const who = this.#tokens.resolve(token);
      if (!who) {
        const message = token ? 'the API token is not valid' : 'this coordinator requires an API token';
        next(Object.assign(new Error(message), { data: { code: 'unauthorized', message } satisfies DashboardConnectError }));
        return;
      }
      socket.data.org = who.org;
      next();
    });
    this.#nsp.on('connection', (socket) => {
      this.#welcome(socket).catch((err: unknown) => {
        this.#log(`dashboard: could not send a snapshot (${(err as Error).stack ?? String(err)}); closing the page's connection so it retries`);
        socket.disconnect(true);
      });
    });
  }

  /**
   * Starts reading the coordinator's state. Call after the dispatcher is built: the dashboard
   * chains itself behind the service's `onQueued` hook (jobs leaving a retry backoff enter their
   * queue without an event).
   */
  attach(src: DashboardSources): void {
    this.#src = src;
    const dispatch = src.service.onQueued;
    src.service.onQueued = () => {
      dispatch();
      this.#changed('queues');
    };
    src.agents?.on('connection', (socket: Socket) => {
      // Agent handlers change slots synchronously or before they publish a job event, and the push
      // runs on a timer, so it sees what the message changed.
      socket.onAny(() => this.#changed('agents', 'running'));
      socket.on('disconnect', () => this.#changed('agents', 'running'));
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#runs.timer) clearTimeout(this.#runs.timer);
    this.#timer = this.#runs.timer = null;
  }

  // ── JobEventSink: called by the job service after each stored event; never throws ──

  publish(event: JobEvent): void {
    try {
      if (event.type === 'log') {
        const orgId = this.#tails.orgOf(event.job_id) ?? this.#src?.service.active(event.job_id)?.orgId;
        if (orgId !== undefined) this.#tails.add(event.job_id, orgId, event.attempt, event.lines);
        this.#schedule();
        return;
      }
      if (event.type === 'state') {
        if (event.to === 'queued' || FINAL_STATES.has(event.to)) this.#tails.drop(event.job_id);
        this.#changed('queues', 'running', 'agents', 'runs');
        return;
      }
      this.#changed('agents');
    } catch (err) {
      this.#log(`dashboard: a job event was not shown (${(err as Error).message}); the next change refreshes the page`);
    }
  }

  end(_jobId: string, job: JobView): void {
    try {
      this.#recent.add(resultOf(job));
      if (job.agent_id && job.slot_id && job.started_at) this.#slotOrg.set(`${job.agent_id}/${job.slot_id}`, job.org_id);
      this.#tails.drop(job.job_id);
      this.#changed('recent', 'running', 'queues', 'runs');
    } catch (err) {
      this.#log(`dashboard: an ended job was not shown (${(err as Error).message})`);
    }
  }

  // ── pages ──

  async #welcome(socket: DashboardSocket): Promise<void> {
    const org = socket.data.org;
    const [runs] = await Promise.all([this.#readRuns(org), this.#recent.ensure(org)]);
    if (!socket.connected || this.#closed) return;
    socket.emit('snapshot', this.#snapshot(org, runs));
    await socket.join(roomOf(org));
    // The room's last pushes may predate this snapshot: send every section to it again next time.
    this.#sent.delete(roomOf(org));
    this.#changed('queues', 'agents', 'running', 'recent');
  }

  #snapshot(org: string, runs: DashboardRun[] | null): DashboardSnapshot {
    const viewer: Principal = { org };
    const all = this.#allRunning();
    const running = all.filter((j) => canAccess(viewer, j.org_id));
    return {
      at: new Date(this.#now()).toISOString(),
      version: this.version,
      viewer,
      auth: this.#tokens.enabled,
      queues: this.#src ? queuesFor(this.#src.service.queues, all, viewer) : [],
      agents: this.#agents(viewer),
      running,
      tails: running.flatMap((j) => this.#tails.get(j.job_id) ?? []),
      recent: this.#recent.of(org),
      runs,
    };
  }

  #agents(viewer: Principal) {
    const src = this.#src;
    if (!src) return [];
    return agentsFor(
      src.fleet.view(),
      viewer,
      (jobId) => src.service.active(jobId)?.orgId,
      (agentId, slotId) => this.#slotOrg.get(`${agentId}/${slotId}`),
    );
  }

  /** Every job on a slot, oldest assignment first; notes whose build each started job installs. */
  #allRunning(): DashboardRunningJob[] {
    const src = this.#src;
    if (!src) return [];
    const out: DashboardRunningJob[] = [];
    for (const agent of src.fleet.agents.values()) {
      for (const slot of agent.slots.values()) {
        const row = slot.jobId ? src.service.active(slot.jobId) : undefined;
        const job = row ? runningJobOf(row) : null;
        if (!job) continue;
        out.push(job);
        if (job.status === 'running') this.#slotOrg.set(slot.key, job.org_id);
      }
    }
    return out.sort((a, b) => (a.assigned_at ?? '').localeCompare(b.assigned_at ?? '') || a.job_id.localeCompare(b.job_id));
  }

  /** Orgs with at least one page connected. */
  #viewers(): string[] {
    const out: string[] = [];
    for (const [room, members] of this.#nsp.adapter.rooms) if (room.startsWith(ROOM) && members.size > 0) out.push(room.slice(ROOM.length));
    return out;
  }

  #changed(...sections: Section[]): void {
    for (const s of sections) this.#dirty.add(s);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    const waitMs = Math.max(0, this.#lastPushMs + this.#pushIntervalMs - this.#now());
    this.#timer = setTimeout(() => this.#push(), waitMs);
  }

  /** One coalesced push: each viewer gets the sections that changed for it, and new log lines. */
  #push(): void {
    this.#timer = null;
    this.#lastPushMs = this.#now();
    const dirty = this.#dirty;
    this.#dirty = new Set();
    const logs = this.#tails.takeNew();
    const viewers = this.#viewers();
    for (const room of this.#sent.keys()) if (!viewers.includes(room.slice(ROOM.length))) this.#sent.delete(room);
    if (viewers.length === 0 || !this.#src) return;
    if (dirty.has('runs')) this.#scheduleRuns();

    const at = new Date(this.#lastPushMs).toISOString();
    const all = dirty.has('running') || dirty.has('queues') ? this.#allRunning() : null;
    for (const org of viewers) {
      const viewer: Principal = { org };
      const update: DashboardUpdate = { at };
      let any = false;
      const sent = this.#sent.get(roomOf(org)) ?? new Map<Section, string>();
      this.#sent.set(roomOf(org), sent);
      const put = <K extends Section>(section: K, value: NonNullable<DashboardUpdate[K]>) => {
        const json = fingerprint(value);
        if (sent.get(section) === json) return;
        sent.set(section, json);
        Object.assign(update, { [section]: value });
        any = true;
      };
      if (all && dirty.has('running')) put('running', all.filter((j) => canAccess(viewer, j.org_id)));
      if (all && dirty.has('queues')) put('queues', queuesFor(this.#src.service.queues, all, viewer));
      if (dirty.has('agents')) put('agents', this.#agents(viewer));
      if (dirty.has('recent')) put('recent', this.#recent.of(org));
      const mine = logs.filter((l) => canAccess(viewer, l.orgId)).map((l) => l.tail);
      if (mine.length > 0) {
        update.logs = mine;
        any = true;
      }
      if (any) this.#nsp.to(roomOf(org)).emit('update', update);
    }
  }

  // ── runs: read from their provider at most once per runsIntervalMs, only while pages are open ──

  #scheduleRuns(): void {
    if (!this.#src?.runs || this.#closed) return;
    if (this.#runs.busy) {
      this.#runs.again = true;
      return;
    }
    if (this.#runs.timer) return;
    const waitMs = Math.max(0, this.#runs.lastMs + this.#runsIntervalMs - this.#now());
    this.#runs.timer = setTimeout(() => {
      this.#runs.timer = null;
      this.#runs.busy = true;
      this.#runs.lastMs = this.#now();
      this.#pushRuns().finally(() => {
        this.#runs.busy = false;
        if (this.#runs.again) {
          this.#runs.again = false;
          this.#scheduleRuns();
        }
      });
    }, waitMs);
  }

  async #pushRuns(): Promise<void> {
    for (const org of this.#viewers()) {
      const runs = await this.#readRuns(org);
      if (runs === null || this.#closed) continue;
      const sent = this.#sent.get(roomOf(org)) ?? new Map<Section, string>();
      this.#sent.set(roomOf(org), sent);
      const json = fingerprint(runs);
      if (sent.get('runs') === json) continue;
      sent.set('runs', json);
      this.#nsp.to(roomOf(org)).emit('update', { at: new Date(this.#now()).toISOString(), runs });
    }
  }

  /** The viewer's runs; null without a provider, or when it fails (reported once per failure streak). */
  async #readRuns(org: string): Promise<DashboardRun[] | null> {
    const provider = this.#src?.runs;
    if (!provider) return null;
    try {
      const viewer: Principal = { org };
      const runs = await provider({ org_id: org === '*' ? null : org, limit: this.#runsLimit });
      this.#runs.failing = false;
      return runs.filter((r) => canAccess(viewer, r.org_id)).slice(0, this.#runsLimit).map(runOf);
    } catch (err) {
      if (!this.#runs.failing) this.#log(`dashboard: could not read runs (${(err as Error).message}); the runs panel keeps what it had`);
      this.#runs.failing = true;
      return null;
    }
  }

  /** Ended jobs from the store, for a viewer's first page: the newest of each final state. */
  async #loadResults(org: string | null, limit: number) {
    const service = this.#src?.service;
    if (!service) return [];
    const lists = await Promise.all(
      [...FINAL_STATES].map((status) => service.list({ status, ...(org !== null ? { orgId: org } : {}) }, limit).then((r) => r.jobs)),
    );
    return lists.flat().map(resultOf);
  }
}
