/**
 * BENCHMARKS ONLY: a slot with no device behind it. It takes an assignment, reports `started`
 * with no install and `passed` with one test case at once (no sleep, no Playwright), optionally
 * after emitting `logLines` log lines as fast as the agent's log streamer lets it: a line is written
 * only when the streamer has room for it (`io.room()`: fewer than its high-water mark of lines not
 * yet acknowledged by the coordinator), so its timestamp is when it could enter the pipeline. It
 * exists so `bench/` can measure the coordinator's own overhead; it is reachable only programmatically (`SlotConfig.noop`), never from a lab file or a
 * `qgjob agent` flag.
 */
import type { SlotConfig } from '../options.js';
import type { SpecResult } from '../runner/appwright-runner.js';
import type { JobRunIo, Prepared, RunContext, RunVideo, Slot } from './slot.js';

export interface NoopSlotOptions {
  /** Log lines each job emits before it passes. Default 0. */
  logLines?: number;
  /** Characters per log line (its text starts with the line number and a timestamp). Default 80. */
  lineChars?: number;
  /** Called when the agent hands the slot a job (the assignment's arrival, for latency measurements). */
  onJob?: (ctx: RunContext) => void;
  /**
   * The build this slot reports as installed (a warm fleet, as a device lab is after its first
   * jobs). It never changes: the slot installs nothing. Default none.
   */
  installed?: string;
}

export class NoopSlot implements Slot {
  readonly installedAppVersionId: string | null;
  readonly installs = 0;

  constructor(
    readonly config: SlotConfig,
    private readonly opts: NoopSlotOptions = {},
  ) {
    this.installedAppVersionId = opts.installed ?? null;
  }

  async prepare(ctx: RunContext): Promise<Prepared> {
    this.opts.onJob?.(ctx);
    return { session: { endpoint: 'noop:', sessionId: 'noop', capabilities: {}, platform: this.config.platform }, install: null };
  }

  async runJob(_ctx: RunContext, io: JobRunIo): Promise<SpecResult> {
    const lines = this.opts.logLines ?? 0;
    const width = this.opts.lineChars ?? 80;
    for (let i = 0; i < lines; i++) {
      const room = io.room();
      if (room) await untilAborted(room, io.signal);
      if (io.signal.aborted) break;
      // `t=` is process.hrtime (CLOCK_MONOTONIC, shared by every process on the host) in ns: a watcher
      // in another process computes agent → watcher latency from it.
      const head = `noop line ${i} t=${process.hrtime.bigint()} `;
      io.onLine('stdout', head.length < width ? head.padEnd(width, '.') : head);
    }
    if (io.signal.aborted) return { outcome: 'error', testCases: [], durationMs: 0, errorMessage: 'stopped', exitCode: null };
    return {
      outcome: 'passed',
      testCases: [{ title: 'noop', full_title: 'noop', status: 'passed', duration_ms: 0, error_message: null, retry: 0 }],
      durationMs: 0,
      errorMessage: null,
      exitCode: 0,
    };
  }

  async beginRun(): Promise<void> {}

  async endRun(): Promise<RunVideo> {
    return { url: null, note: null };
  }

  async release(): Promise<void> {}
}

/** `p`, or sooner when `signal` aborts (a streamer that lost its coordinator may not make room). */
function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done);
    void p.then(done);
  });
}
