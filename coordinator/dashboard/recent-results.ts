/**
 * The jobs that ended most recently, per viewer (`*` for every org, else one org), newest first and
 * bounded. A viewer's list is loaded from the store the first time one of its pages connects, then
 * kept up to date from the job service's `end` events.
 */
import type { DashboardResult } from '../../shared/index.js';

/** Loads up to `limit` ended jobs of `orgId` (every org when null), any order. */
export type ResultsLoader = (orgId: string | null, limit: number) => Promise<DashboardResult[]>;

const newestFirst = (a: DashboardResult, b: DashboardResult): number =>
  (b.finished_at ?? '').localeCompare(a.finished_at ?? '') || (a.job_id < b.job_id ? 1 : a.job_id > b.job_id ? -1 : 0);

export class RecentResults {
  readonly #lists = new Map<string, DashboardResult[]>();
  readonly #loading = new Map<string, Promise<void>>();

  /**
   * @param limit results kept per viewer (default 50)
   * @param load reads ended jobs from the store
   * @param log where a failed load is reported (it is tried again at the next connection)
   */
  constructor(
    private readonly load: ResultsLoader,
    private readonly log: (line: string) => void,
    readonly limit = 50,
  ) {}

  /** A job ended: it goes first in the lists that are kept (everyone's and its org's). */
  add(r: DashboardResult): void {
    for (const key of ['*', r.org_id]) {
      const list = this.#lists.get(key);
      if (!list) continue;
      const i = list.findIndex((x) => x.job_id === r.job_id);
      if (i >= 0) list.splice(i, 1);
      list.unshift(r);
      list.sort(newestFirst);
      if (list.length > this.limit) list.length = this.limit;
    }
  }

  /** Loads the viewer's list once (`*`: every org). Never rejects. */
  ensure(viewer: string): Promise<void> {
    if (this.#lists.has(viewer) && !this.#loading.has(viewer)) return Promise.resolve();
    let p = this.#loading.get(viewer);
    if (p) return p;
    // Results that end while the store is read go into the list now and are merged with what it returns.
    this.#lists.set(viewer, []);
    p = this.load(viewer === '*' ? null : viewer, this.limit).then(
      (loaded) => {
        const list = this.#lists.get(viewer)!;
        const seen = new Set(list.map((r) => r.job_id));
        for (const r of loaded) if (!seen.has(r.job_id)) list.push(r);
        list.sort(newestFirst);
        if (list.length > this.limit) list.length = this.limit;
        this.#loading.delete(viewer);
      },
      (err: unknown) => {
        this.log(`dashboard: could not load recent results (${(err as Error).message}); trying again at the next page load`);
        this.#lists.delete(viewer);
        this.#loading.delete(viewer);
      },
    );
    this.#loading.set(viewer, p);
    return p;
  }

  /** The viewer's list, newest first (empty until loaded). */
  of(viewer: string): DashboardResult[] {
    return [...(this.#lists.get(viewer) ?? [])];
  }
}
