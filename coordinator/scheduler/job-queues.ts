/**
 * The in-memory index of queued jobs. The store is the truth; this index is rebuilt from it at
 * start-up. No I/O here. Two views of the same jobs:
 *  - one queue per app_version_id, in scheduling order (priority high→low, then submit time
 *    old→new, then job id): `byVersion`, for readers that want a version's queue;
 *  - lanes: one per (target/platform class, app version, org), each split by priority level, with
 *    the lane's expected work kept as a running sum. The policy reads lanes, so a round costs in
 *    proportion to lanes and slots, not to queued jobs.
 */
import type { QueuedJob } from './types.js';

/** Scheduling order within a queue: priority desc, then age asc, then id (ULIDs sort by time). */
export function compareJobs(a: QueuedJob, b: QueuedJob): number {
  return b.priority - a.priority || a.submittedAtMs - b.submittedAtMs || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);
}

const classKeys = new Map<string, Map<string, string>>();

/** The class of a job or slot: which slots may run which jobs (`emulator/android`, …). Memoised: no string is built per call. */
export function classKeyOf(x: { target: string; platform: string }): string {
  let byPlatform = classKeys.get(x.target);
  if (!byPlatform) classKeys.set(x.target, (byPlatform = new Map()));
  let key = byPlatform.get(x.platform);
  if (key === undefined) byPlatform.set(x.platform, (key = `${x.target}/${x.platform}`));
  return key;
}

/** Inserts `job` into `list` (kept in `compareJobs` order) by binary search. */
function insertSorted(list: QueuedJob[], job: QueuedJob): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareJobs(list[mid]!, job) <= 0) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, job);
}

/** Finds `job` in `list` (kept in `compareJobs` order) by binary search; -1 when absent. */
function indexOfSorted(list: readonly QueuedJob[], job: QueuedJob): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareJobs(list[mid]!, job) < 0) lo = mid + 1;
    else hi = mid;
  }
  return list[lo] === job ? lo : list.indexOf(job);
}

/** The jobs of one priority in a lane, oldest first. */
export interface LaneLevel {
  readonly priority: number;
  readonly jobs: readonly QueuedJob[];
}

/** The queued jobs of one app version, one org and one class, by priority level (highest first). */
export class Lane {
  readonly #levels: Array<{ priority: number; jobs: QueuedJob[] }> = [];
  /** Each level's priority and size, packed (what `countAbove` reads, without visiting the levels). */
  readonly #priorities: number[] = [];
  readonly #sizes: number[] = [];
  #size = 0;
  #knownWorkMs = 0;
  #unknownCount = 0;
  #oldest: QueuedJob | undefined = undefined;
  /** The oldest job's submit time and priority, kept here so readers need not visit the job. */
  #oldestMs = Infinity;
  #oldestPriority = 0;
  #avoiding = 0;

  constructor(
    readonly key: string,
    readonly classKey: string,
    readonly appVersionId: string,
    readonly orgId: string,
  ) {}

  get size(): number {
    return this.#size;
  }

  /** Priority levels, highest first; each level's jobs oldest first. */
  get levels(): readonly LaneLevel[] {
    return this.#levels;
  }

  /** The first job in scheduling order. */
  head(): QueuedJob | undefined {
    return this.#levels[0]?.jobs[0];
  }

  /** The job queued longest (then the smallest id), whatever its priority. O(1). */
  oldest(): QueuedJob | undefined {
    return this.#oldest;
  }

  /** The oldest of the levels' first jobs (each level is in age order). */
  #findOldest(): QueuedJob | undefined {
    let best: QueuedJob | undefined;
    for (const l of this.#levels) {
      const j = l.jobs[0]!;
      if (!best || j.submittedAtMs < best.submittedAtMs || (j.submittedAtMs === best.submittedAtMs && j.jobId < best.jobId)) best = j;
    }
    return best;
  }

  /** How many of its jobs avoid some slot (retries after a broken attempt). */
  get avoidingCount(): number {
    return this.#avoiding;
  }

  /** Submit time of the job queued longest (epoch ms); Infinity when empty. O(1). */
  get oldestSubmittedAtMs(): number {
    return this.#oldestMs;
  }

  /** Priority of the job queued longest (0 when empty). O(1). */
  get oldestPriority(): number {
    return this.#oldestPriority;
  }

  /** Expected work of the lane (ms): the sum of the jobs' expected durations, `defaultMs` for those without. */
  workMs(defaultMs: number): number {
    return this.#knownWorkMs + this.#unknownCount * defaultMs;
  }

  /** Jobs in scheduling order. */
  *jobs(): IterableIterator<QueuedJob> {
    for (const l of this.#levels) yield* l.jobs;
  }

  /** How many jobs of this lane go before `job` (it need not be queued). */
  countBefore(job: QueuedJob): number {
    let n = 0;
    for (const l of this.#levels) {
      if (l.priority > job.priority) n += l.jobs.length;
      else if (l.priority === job.priority) {
        let lo = 0;
        let hi = l.jobs.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (compareJobs(l.jobs[mid]!, job) < 0) lo = mid + 1;
          else hi = mid;
        }
        n += lo;
      }
    }
    return n;
  }

  /** How many jobs of this lane have a priority above `priority`. O(levels), reading two packed arrays. */
  countAbove(priority: number): number {
    const priorities = this.#priorities;
    const sizes = this.#sizes;
    let n = 0;
    for (let i = 0; i < priorities.length && priorities[i]! > priority; i++) n += sizes[i]!;
    return n;
  }

  add(job: QueuedJob): void {
    let i = 0;
    while (i < this.#levels.length && this.#levels[i]!.priority > job.priority) i++;
    let level = this.#levels[i];
    if (!level || level.priority !== job.priority) {
      this.#levels.splice(i, 0, (level = { priority: job.priority, jobs: [] }));
      this.#priorities.splice(i, 0, job.priority);
      this.#sizes.splice(i, 0, 0);
    }
    insertSorted(level.jobs, job);
    this.#sizes[i]!++;
    this.#size++;
    if (job.expectedDurationMs === undefined) this.#unknownCount++;
    else this.#knownWorkMs += job.expectedDurationMs;
    const o = this.#oldest;
    if (!o || job.submittedAtMs < o.submittedAtMs || (job.submittedAtMs === o.submittedAtMs && job.jobId < o.jobId)) {
      this.#oldest = job;
      this.#oldestMs = job.submittedAtMs;
      this.#oldestPriority = job.priority;
    }
    if (job.avoidSlots.length > 0) this.#avoiding++;
  }

  remove(job: QueuedJob): void {
    const li = this.#levels.findIndex((l) => l.priority === job.priority);
    const level = this.#levels[li]!;
    level.jobs.splice(indexOfSorted(level.jobs, job), 1);
    this.#sizes[li]!--;
    if (level.jobs.length === 0) {
      this.#levels.splice(li, 1);
      this.#priorities.splice(li, 1);
      this.#sizes.splice(li, 1);
    }
    this.#size--;
    if (job.expectedDurationMs === undefined) this.#unknownCount--;
    else this.#knownWorkMs -= job.expectedDurationMs;
    if (job === this.#oldest) {
      this.#oldest = this.#findOldest();
      this.#oldestMs = this.#oldest?.submittedAtMs ?? Infinity;
      this.#oldestPriority = this.#oldest?.priority ?? 0;
    }
    if (job.avoidSlots.length > 0) this.#avoiding--;
  }
}

/** The lanes of one class. */
export interface ClassLanes {
  /** Every non-empty lane of the class, in the order they were opened. */
  readonly lanes: ReadonlySet<Lane>;
  /** The lanes of each app version (usually one: one org builds a version). */
  readonly byVersion: ReadonlyMap<string, readonly Lane[]>;
  /** Changes whenever a lane of the class opens or closes (readers may keep what they derive from the lanes until then). */
  readonly revision: number;
}

const owners = new WeakMap<object, JobQueues>();

/** The lane of `orgId` among a version's lanes of a class (usually one: one org builds a version), found without building a key. */
function laneIn(lanes: readonly Lane[] | undefined, orgId: string): Lane | undefined {
  if (lanes === undefined) return undefined;
  for (const l of lanes) if (l.orgId === orgId) return l;
  return undefined;
}

export class JobQueues {
  readonly #byVersion = new Map<string, QueuedJob[]>();
  readonly #byId = new Map<string, QueuedJob>();
  readonly #classes = new Map<string, { lanes: Set<Lane>; byVersion: Map<string, Lane[]>; revision: number }>();

  constructor() {
    owners.set(this.#byVersion, this);
  }

  /** The `JobQueues` whose `byVersion` view this map is, if any (lets map-based callers reach the lane index). */
  static owning(byVersion: object): JobQueues | undefined {
    return owners.get(byVersion);
  }

  /** A new index holding `jobs`. */
  static of(jobs: Iterable<QueuedJob>): JobQueues {
    const q = new JobQueues();
    for (const j of jobs) q.add(j);
    return q;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** The per-version queues, each in scheduling order. Read-only view. */
  get byVersion(): ReadonlyMap<string, readonly QueuedJob[]> {
    return this.#byVersion;
  }

  has(jobId: string): boolean {
    return this.#byId.has(jobId);
  }

  get(jobId: string): QueuedJob | undefined {
    return this.#byId.get(jobId);
  }

  /** The lanes of a class (`classKeyOf(slot)`), or undefined when it has no queued job. */
  lanesOf(classKey: string): ClassLanes | undefined {
    return this.#classes.get(classKey);
  }

  /** Class keys with queued jobs. */
  classKeys(): IterableIterator<string> {
    return this.#classes.keys();
  }

  /** Adds (or re-adds) a job in its place. */
  add(job: QueuedJob): void {
    if (this.#byId.has(job.jobId)) this.remove(job.jobId);
    this.#byId.set(job.jobId, job);
    let q = this.#byVersion.get(job.appVersionId);
    if (!q) this.#byVersion.set(job.appVersionId, (q = []));
    insertSorted(q, job);

    const classKey = classKeyOf(job);
    let cls = this.#classes.get(classKey);
    let lane = cls && laneIn(cls.byVersion.get(job.appVersionId), job.orgId);
    if (!lane) {
      lane = new Lane(`${classKey}\u0000${job.appVersionId}\u0000${job.orgId}`, classKey, job.appVersionId, job.orgId);
      if (!cls) this.#classes.set(classKey, (cls = { lanes: new Set(), byVersion: new Map(), revision: 0 }));
      cls.revision++;
      cls.lanes.add(lane);
      const forVersion = cls.byVersion.get(job.appVersionId);
      if (forVersion) forVersion.push(lane);
      else cls.byVersion.set(job.appVersionId, [lane]);
    }
    lane.add(job);
  }

  /** Removes a job; returns it, or undefined if it was not queued. */
  remove(jobId: string): QueuedJob | undefined {
    const job = this.#byId.get(jobId);
    if (!job) return undefined;
    this.#byId.delete(jobId);
    const q = this.#byVersion.get(job.appVersionId)!;
    q.splice(indexOfSorted(q, job), 1);
    if (q.length === 0) this.#byVersion.delete(job.appVersionId);

    const classKey = classKeyOf(job);
    const cls = this.#classes.get(classKey)!;
    const lane = laneIn(cls.byVersion.get(job.appVersionId), job.orgId)!;
    lane.remove(job);
    if (lane.size === 0) {
      cls.revision++;
      cls.lanes.delete(lane);
      const forVersion = cls.byVersion.get(job.appVersionId)!;
      forVersion.splice(forVersion.indexOf(lane), 1);
      if (forVersion.length === 0) cls.byVersion.delete(job.appVersionId);
      if (cls.lanes.size === 0) this.#classes.delete(classKey);
    }
    return job;
  }

  /** All queued jobs in no particular order. */
  all(): IterableIterator<QueuedJob> {
    return this.#byId.values();
  }
}
