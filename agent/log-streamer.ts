/**
 * Cuts an attempt's log lines into chunks (`seq` from 0, no gap) and sends them in order, one at a
 * time, each acknowledged by the coordinator before the next. A chunk that got no acknowledgement
 * is sent again (the coordinator stores it once: it dedupes by attempt and seq). The streamer stops
 * when the coordinator says the attempt is stale; lines it could not deliver are counted.
 */
import type { LogChunkPayload, LogLine } from '../shared/index.js';

export type ChunkSender = (chunk: LogChunkPayload) => Promise<'ok' | 'stale' | 'retry'>;

export interface LogStreamerOptions {
  /** A chunk is cut at most this long after its first line (ms). Default 50. */
  flushMs?: number;
  /** …or when it has this many lines. Default 500. */
  maxLines?: number;
  /** Wait before re-sending an unacknowledged chunk (ms), doubled up to 2 s. Default 100. */
  retryMs?: number;
}

export class LogStreamer {
  #pending: LogLine[] = [];
  #queue: LogChunkPayload[] = [];
  #seq = 0;
  #timer: NodeJS.Timeout | null = null;
  #sending: Promise<void> | null = null;
  #stale = false;
  /** Lines that were not delivered (the attempt went stale). */
  undelivered = 0;
  readonly #flushMs: number;
  readonly #maxLines: number;
  readonly #retryMs: number;

  constructor(
    private readonly jobId: string,
    private readonly attemptId: string,
    private readonly send: ChunkSender,
    opts: LogStreamerOptions = {},
  ) {
    this.#flushMs = opts.flushMs ?? 50;
    this.#maxLines = opts.maxLines ?? 500;
    this.#retryMs = opts.retryMs ?? 100;
  }

  /** Chunks cut so far. */
  get chunks(): number {
    return this.#seq;
  }

  push(stream: LogLine['stream'], text: string): void {
    if (this.#stale) {
      this.undelivered++;
      return;
    }
    this.#pending.push({ at_ms: Date.now(), stream, text });
    if (this.#pending.length >= this.#maxLines) this.#cut();
    else this.#timer ??= setTimeout(() => this.#cut(), this.#flushMs);
  }

  /** Sends what is left and resolves when every chunk was acknowledged (or the attempt went stale). */
  async close(): Promise<void> {
    this.#cut();
    while (this.#sending) await this.#sending;
  }

  /** Stops sending (the attempt was cancelled or lost); what is queued is counted as undelivered. */
  abandon(): void {
    this.#stale = true;
    this.#cut();
  }

  #cut(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    this.#pending = [];
    if (this.#stale) {
      this.undelivered += lines.length;
      return;
    }
    this.#queue.push({ job_id: this.jobId, attempt_id: this.attemptId, seq: this.#seq++, lines });
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = null;
      if (this.#queue.length && !this.#stale) this.#sending = this.#drain();
    });
  }

  async #drain(): Promise<void> {
    let wait = this.#retryMs;
    while (this.#queue.length) {
      if (this.#stale) {
        for (const c of this.#queue) this.undelivered += c.lines.length;
        this.#queue = [];
        return;
      }
      const chunk = this.#queue[0]!;
      const r = await this.send(chunk);
      if (r === 'ok') {
        this.#queue.shift();
        wait = this.#retryMs;
      } else if (r === 'stale') {
        this.#stale = true;
      } else {
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 2000);
      }
    }
  }
}
