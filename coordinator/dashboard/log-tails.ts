/**
 * The last lines of each running job's log, in memory and bounded (lines per job, characters per
 * line), fed from the log events the job service publishes. The dashboard shows them; the store
 * keeps the whole log.
 */
import type { DashboardLogLine, DashboardTail, LogLine } from '../../shared/index.js';

interface Tail {
  orgId: string;
  attempt: number;
  /** `n` of the next line. */
  next: number;
  lines: DashboardLogLine[];
}

export class LogTails {
  readonly #tails = new Map<string, Tail>();
  /** Lines added since the last `takeNew()`, per job (at most `maxLines` each), with the job's org. */
  readonly #fresh = new Map<string, { orgId: string; tail: DashboardTail }>();

  /**
   * @param maxLines lines kept per job (default 30)
   * @param maxLineChars characters kept of one line; longer lines end in `…` (default 2000)
   */
  constructor(
    readonly maxLines = 30,
    readonly maxLineChars = 2000,
  ) {}

  /** Appends a chunk of `jobId`'s log; a chunk of a new attempt starts the tail again. */
  add(jobId: string, orgId: string, attempt: number, lines: readonly LogLine[]): void {
    let tail = this.#tails.get(jobId);
    if (!tail) this.#tails.set(jobId, (tail = { orgId, attempt, next: 1, lines: [] }));
    if (tail.attempt !== attempt) {
      tail.attempt = attempt;
      tail.lines = [];
    }
    let fresh = this.#fresh.get(jobId)?.tail;
    if (!fresh || fresh.attempt !== attempt) this.#fresh.set(jobId, { orgId, tail: (fresh = { job_id: jobId, attempt, lines: [] }) });
    // Lines of a big chunk beyond the tail are skipped, but numbered, so a page sees where the gap is.
    tail.next += Math.max(0, lines.length - this.maxLines);
    for (const l of lines.slice(-this.maxLines)) {
      const text = l.text.length > this.maxLineChars ? `${l.text.slice(0, this.maxLineChars)}…` : l.text;
      const line: DashboardLogLine = { n: tail.next++, at_ms: l.at_ms, stream: l.stream, text };
      tail.lines.push(line);
      fresh.lines.push(line);
    }
    if (tail.lines.length > this.maxLines) tail.lines.splice(0, tail.lines.length - this.maxLines);
    if (fresh.lines.length > this.maxLines) fresh.lines.splice(0, fresh.lines.length - this.maxLines);
  }

  /** Forgets a job's tail (it ended or went back to its queue). */
  drop(jobId: string): void {
    this.#tails.delete(jobId);
    this.#fresh.delete(jobId);
  }

  /** The tail of a job, if it logged anything. */
  get(jobId: string): DashboardTail | undefined {
    const t = this.#tails.get(jobId);
    return t ? { job_id: jobId, attempt: t.attempt, lines: [...t.lines] } : undefined;
  }

  orgOf(jobId: string): string | undefined {
    return this.#tails.get(jobId)?.orgId;
  }

  /** Lines added since the last call, per job with its org, and forgets them. */
  takeNew(): Array<{ orgId: string; tail: DashboardTail }> {
    const out = [...this.#fresh.values()];
    this.#fresh.clear();
    return out;
  }

  get size(): number {
    return this.#tails.size;
  }
}
