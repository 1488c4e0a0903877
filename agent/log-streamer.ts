/**
 * Cuts an attempt's log lines into chunks (`seq` from 0, no gap) and sends them in order, one at a
 * time, each acknowledged by the coordinator before the next. A chunk that got no acknowledgement
 * is sent again (the coordinator stores it once: it dedupes by attempt and seq). A chunk the
 * coordinator refuses as invalid is not retried; the streamer stops when it says the attempt is
 * stale. Lines that were never delivered are counted, never dropped silently.
 */
import type { LogChunkPayload, LogLine } from '../shared/index.js';

export type SendResult = 'ok' | 'stale' | 'invalid' | 'retry';
export type ChunkSender = (chunk: LogChunkPayload) => Promise<SendResult>;

export interface LogStreamerOptions {
  /** A chunk is cut at most this long after its first line (ms). Default 50. */
  flushMs?: number;
  /** …or when it has this many lines. Default 500. */
  maxLines?: number;
  /** …or this many bytes of text. Default 256 KiB. */
  maxChunkBytes?: number;
  /** A longer line is cut to this many characters, with a marker saying so. Default 16 KiB. */
  maxLineChars?: number;
  /** Wait before re-sending an unacknowledged chunk (ms), doubled up to 2 s. Default 100. */
  retryMs?: number;
  /**
   * Most bytes of unacknowledged chunks kept while the coordinator is unreachable. Past it new lines
   * are counted as undelivered (the spooled prefix stays whole, with no gap). Default 32 MiB.
   */
  maxSpoolBytes?: number;
}

export class LogStreamer {
  #pending: LogLine[] = [];
  #pendingBytes = 0;
  #queue: LogChunkPayload[] = [];
  #queuedBytes = 0;
  #seq = 0;
  #timer: NodeJS.Timeout | null = null;
  #sending: Promise<void> | null = null;
  #stopped = false;
  /** Lines that were not delivered (refused as invalid, or the attempt went stale). */
  undelivered = 0;
  readonly #o: Required<LogStreamerOptions>;

  constructor(
    private readonly jobId: string,
    private readonly attemptId: string,
    private readonly send: ChunkSender,
    opts: LogStreamerOptions = {},
  ) {
    this.#o = { flushMs: 50, maxLines: 500, maxChunkBytes: 256 * 1024, maxLineChars: 16 * 1024, retryMs: 100, maxSpoolBytes: 32 * 1024 * 1024, ...opts };
  }

  /** Chunks cut so far. */
  get chunks(): number {
    return this.#seq;
  }

  /** Chunks cut but not yet acknowledged (or refused). */
  get backlog(): number {
    return this.#queue.length;
  }

  push(stream: LogLine['stream'], text: string): void {
    if (this.#stopped || this.#queuedBytes + this.#pendingBytes >= this.#o.maxSpoolBytes) {
      this.undelivered++;
      return;
    }
    const max = this.#o.maxLineChars;
    const line = text.length > max ? `${text.slice(0, max)} … [${text.length - max} more characters cut by the agent]` : text;
    this.#pending.push({ at_ms: Date.now(), stream, text: line });
    this.#pendingBytes += line.length;
    if (this.#pending.length >= this.#o.maxLines || this.#pendingBytes >= this.#o.maxChunkBytes) this.#cut();
    else this.#timer ??= setTimeout(() => this.#cut(), this.#o.flushMs);
  }

  /** Sends what is left and resolves when every chunk was acknowledged (or refused, or the attempt went stale). */
  async close(): Promise<void> {
    this.#cut();
    while (this.#sending) await this.#sending;
  }

  /** Stops sending (the attempt was cancelled, lost, or the agent stops); what is queued is counted as undelivered. */
  abandon(): void {
    this.#stopped = true;
    this.#cut();
  }

  #cut(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#stopped) {
      this.undelivered += lines.length;
      return;
    }
    this.#queue.push({ job_id: this.jobId, attempt_id: this.attemptId, seq: this.#seq++, lines });
    this.#queuedBytes += bytesOf(lines);
    this.#startDrain();
  }

  #startDrain(): void {
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = null;
      // A chunk queued between the end of the loop and here must not be stranded.
      if (this.#queue.length) this.#startDrain();
    });
  }

  async #drain(): Promise<void> {
    let wait = this.#o.retryMs;
    while (this.#queue.length) {
      const chunk = this.#queue[0]!;
      const r = this.#stopped ? 'stale' : await this.send(chunk);
      if (r === 'retry') {
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 2000);
        continue;
      }
      this.#queue.shift();
      this.#queuedBytes -= bytesOf(chunk.lines);
      wait = this.#o.retryMs;
      if (r === 'invalid') this.undelivered += chunk.lines.length;
      if (r === 'stale') {
        this.#stopped = true;
        for (const c of [chunk, ...this.#queue]) this.undelivered += c.lines.length;
        this.#queue = [];
        this.#queuedBytes = 0;
      }
    }
  }
}

const bytesOf = (lines: readonly LogLine[]): number => lines.reduce((n, l) => n + l.text.length, 0);
