/**
 * Cuts an attempt's log lines into chunks (`seq` from 0, no gap) and sends them in order, one at a
 * time, each acknowledged by the coordinator before the next. A chunk that got no acknowledgement
 * is sent again (the coordinator stores it once: it dedupes by attempt and seq). A chunk the
 * coordinator refuses as invalid is not retried; the streamer stops when it says the attempt is
 * stale. Lines that were never delivered are counted, never dropped silently.
 *
 * No timer decides when a chunk goes out: with no chunk waiting for its acknowledgement, the lines
 * pushed in this turn of the event loop are cut into a chunk at the next turn (setImmediate); while
 * one is waiting, new lines gather and go out as the next chunk the moment the acknowledgement
 * arrives (or earlier, cut by size). A line therefore waits at most one round trip before it is sent.
 *
 * Flow control: `room()` tells an emitter that can wait (a noop benchmark slot, a child process whose
 * stdout can be paused) when the pipeline can take more: while the attempt holds `highWaterLines`
 * lines (or `highWaterBytes`) not yet acknowledged, it returns a promise that resolves once an
 * acknowledgement brought it below. `push` itself never blocks and never refuses a line for being
 * over the high-water mark (only past `maxSpoolBytes`), so an emitter that cannot wait loses nothing.
 */
import type { LogChunkPayload, LogLine } from '../shared/index.js';

/** Default high-water mark (lines not yet acknowledged) of `room()`; the log benchmark says it in its notes. */
export const LOG_HIGH_WATER_LINES = 64;

export type SendResult = 'ok' | 'stale' | 'invalid' | 'retry';
export type ChunkSender = (chunk: LogChunkPayload) => Promise<SendResult>;

export interface LogStreamerOptions {
  /** A chunk is cut when it has this many lines (else at the next turn / acknowledgement). Default 500. */
  maxLines?: number;
  /** …or this many bytes of text. Default 256 KiB. */
  maxChunkBytes?: number;
  /** A longer line is cut to this many characters, with a marker saying so. Default 16 KiB. */
  maxLineChars?: number;
  /** Wait before re-sending an unacknowledged chunk (ms), doubled up to 2 s. Default 100. */
  retryMs?: number;
  /** `room()` makes an emitter wait while this many lines are not yet acknowledged. Default 64. */
  highWaterLines?: number;
  /** …or this many bytes of text. Default 256 KiB. */
  highWaterBytes?: number;
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
  #queuedLines = 0;
  #seq = 0;
  #cutScheduled: NodeJS.Immediate | null = null;
  #sending: Promise<void> | null = null;
  #stopped = false;
  #room: { promise: Promise<void>; resolve: () => void } | null = null;
  /** Lines that were not delivered (refused as invalid, or the attempt went stale). */
  undelivered = 0;
  readonly #o: Required<LogStreamerOptions>;

  constructor(
    private readonly jobId: string,
    private readonly attemptId: string,
    private readonly send: ChunkSender,
    opts: LogStreamerOptions = {},
  ) {
    this.#o = {
      maxLines: 500,
      maxChunkBytes: 256 * 1024,
      maxLineChars: 16 * 1024,
      retryMs: 100,
      highWaterLines: LOG_HIGH_WATER_LINES,
      highWaterBytes: 256 * 1024,
      maxSpoolBytes: 32 * 1024 * 1024,
      ...opts,
    };
  }

  /** Chunks cut so far. */
  get chunks(): number {
    return this.#seq;
  }

  /** Chunks cut but not yet acknowledged (or refused). */
  get backlog(): number {
    return this.#queue.length;
  }

  /** Lines pushed but not yet acknowledged (or refused): the ones not cut yet and those of unacknowledged chunks. */
  get buffered(): number {
    return this.#pending.length + this.#queuedLines;
  }

  /**
   * null when the pipeline can take another line now; else a promise that resolves once it can (or
   * the streamer stopped). For emitters that can wait; `push` works regardless.
   * @example for (const line of lines) { const wait = streamer.room(); if (wait) await wait; streamer.push('stdout', line); }
   */
  room(): Promise<void> | null {
    if (this.#stopped || !this.#full()) return null;
    if (!this.#room) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#room = { promise, resolve };
    }
    return this.#room.promise;
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
    // Nothing waits for an acknowledgement: send what this turn pushed at the next turn. Otherwise
    // the drain loop cuts it when the acknowledgement arrives.
    else if (this.#queue.length === 0) this.#cutScheduled ??= setImmediate(() => this.#cut());
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
    this.#wake();
  }

  #full(): boolean {
    return this.#pending.length + this.#queuedLines >= this.#o.highWaterLines || this.#pendingBytes + this.#queuedBytes >= this.#o.highWaterBytes;
  }

  #wake(): void {
    if (this.#room && (this.#stopped || !this.#full())) {
      const r = this.#room;
      this.#room = null;
      r.resolve();
    }
  }

  #cut(): void {
    if (this.#cutScheduled) clearImmediate(this.#cutScheduled);
    this.#cutScheduled = null;
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#stopped) {
      this.undelivered += lines.length;
      return;
    }
    this.#queue.push({ job_id: this.jobId, attempt_id: this.attemptId, seq: this.#seq++, lines });
    this.#queuedBytes += bytes;
    this.#queuedLines += lines.length;
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
      this.#queuedLines -= chunk.lines.length;
      wait = this.#o.retryMs;
      if (r === 'invalid') this.undelivered += chunk.lines.length;
      if (r === 'stale') {
        this.#stopped = true;
        for (const c of [chunk, ...this.#queue]) this.undelivered += c.lines.length;
        this.#queue = [];
        this.#queuedBytes = 0;
        this.#queuedLines = 0;
      }
      // The lines that gathered while this chunk was out go next, without waiting for a turn.
      if (this.#queue.length === 0) this.#cut();
      this.#wake();
    }
  }
}

const bytesOf = (lines: readonly LogLine[]): number => lines.reduce((n, l) => n + l.text.length, 0);
