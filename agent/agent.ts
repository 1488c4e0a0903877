/**
 * The agent: connects to the coordinator's `/agents` namespace (reconnecting by itself), registers
 * its slots, renews its attempts' leases with heartbeats, takes the jobs pushed to it and runs each
 * on its slot's device: prepare the device session (install the build only if needed), run the
 * AppWright spec, stream its lines, report the result. Results are sent until acknowledged.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  AGENTS_NAMESPACE,
  type Ack,
  type AgentToCoordinator,
  type Assignment,
  type CoordinatorToAgent,
  type FinishedPayload,
  type RunningAttempt,
  VERSION,
} from '../shared/index.js';
import { DeviceSlot } from './device/device-slot.js';
import { startRecording, stopRecording } from './device/recording.js';
import { LogStreamer } from './log-streamer.js';
import type { Agent, AgentOptions } from './options.js';
import { runAppwrightSpec, type SpecResult } from './runner/appwright-runner.js';

type AgentSocket = Socket<CoordinatorToAgent, AgentToCoordinator>;

interface Running extends RunningAttempt {
  abort: AbortController;
  done: Promise<void>;
}

const ACK_TIMEOUT_MS = 10_000;

export class AgentProcess implements Agent {
  readonly agentId: string;
  readonly #slots = new Map<string, DeviceSlot>();
  readonly #running = new Map<string, Running>();
  readonly #socket: AgentSocket;
  readonly #workDir: string;
  readonly #log: (line: string) => void;
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;
  #registered: Promise<void>;

  constructor(private readonly opts: AgentOptions) {
    this.#log = opts.log ?? ((line) => process.stderr.write(`[agent] ${line}\n`));
    this.#workDir = resolve(opts.workDir ?? join('.qgjob', 'agent'));
    for (const s of opts.slots) this.#slots.set(s.slotId, new DeviceSlot(s, opts.apps));
    this.agentId =
      opts.agentId ??
      `${hostname()}-${createHash('sha1')
        .update(opts.slots.map((s) => `${s.slotId}@${s.appiumUrl}`).join(','))
        .digest('hex')
        .slice(0, 8)}`;
    this.#socket = io(new URL(AGENTS_NAMESPACE, opts.url).href, {
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 250,
      reconnectionDelayMax: 5000,
    });
    let registered!: () => void;
    this.#registered = new Promise((r) => (registered = r));
    this.#socket.on('connect', () => {
      this.#register().then(registered, (err: unknown) => this.#log(`register failed: ${(err as Error).message}; retrying on reconnect`));
    });
    this.#socket.on('connect_error', (err) => this.#log(`cannot reach the coordinator at ${opts.url}: ${err.message}; retrying`));
    this.#socket.on('disconnect', (reason) => {
      if (!this.#closed) this.#log(`disconnected from the coordinator (${reason}); reconnecting`);
    });
    this.#socket.on('assign', (a, ack) => ack(this.#accept(a)));
    this.#socket.on('cancel', (c) => this.#stop(c.attempt_id, `cancelled by the coordinator: ${c.reason}`));
  }

  /** Resolves once the coordinator accepted the agent's first registration. */
  ready(): Promise<void> {
    return this.#registered;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const r of this.#running.values()) r.abort.abort(new Error('the agent is shutting down'));
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
    this.#socket.close();
    await Promise.allSettled([...this.#slots.values()].map((s) => s.release()));
  }

  #runningList(): RunningAttempt[] {
    return [...this.#running.values()].map(({ job_id, attempt_id, slot_id }) => ({ job_id, attempt_id, slot_id }));
  }

  async #register(): Promise<void> {
    const reply = await this.#socket.timeout(ACK_TIMEOUT_MS).emitWithAck('register', {
      agent_id: this.agentId,
      name: this.opts.name ?? hostname(),
      version: VERSION,
      slots: [...this.#slots.values()].map((s) => ({
        slot_id: s.config.slotId,
        target: s.config.target,
        platform: s.config.platform,
        device_name: s.config.deviceName,
        endpoint: s.config.appiumUrl,
        installed_app_version_id: s.installedAppVersionId,
      })),
      running: this.#runningList(),
    });
    if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
    for (const id of reply.cancel_attempts) this.#stop(id, 'the coordinator no longer considers this attempt current');
    this.#log(`registered as ${this.agentId} with ${this.#slots.size} slot(s) at ${this.opts.url}`);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#beat(), reply.heartbeat_interval_ms);
  }

  #beat(): void {
    if (!this.#socket.connected) return;
    this.#socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck('heartbeat', { running: this.#runningList() })
      .then(
        (reply) => {
          if (reply.ok) for (const id of reply.cancel_attempts) this.#stop(id, 'the coordinator no longer considers this attempt current');
        },
        () => undefined, // no answer: the next beat tries again; the lease outlives several beats
      );
  }

  #accept(a: Assignment): Ack {
    const slot = this.#slots.get(a.slot_id);
    if (!slot) return { ok: false, error: { code: 'unknown_agent', message: `this agent has no slot ${a.slot_id}` } };
    if ([...this.#running.values()].some((r) => r.slot_id === a.slot_id)) {
      return { ok: false, error: { code: 'illegal_transition', message: `slot ${a.slot_id} is busy` } };
    }
    if (this.#closed) return { ok: false, error: { code: 'illegal_transition', message: 'the agent is shutting down' } };
    const abort = new AbortController();
    const entry = { job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id, abort } as Running;
    entry.done = this.#run(a, slot, abort.signal)
      .catch((err: unknown) => this.#log(`attempt ${a.attempt_id} crashed: ${(err as Error).stack ?? String(err)}`))
      .finally(() => this.#running.delete(a.attempt_id));
    this.#running.set(a.attempt_id, entry);
    return { ok: true };
  }

  #stop(attemptId: string, why: string): void {
    const r = this.#running.get(attemptId);
    if (r && !r.abort.signal.aborted) {
      this.#log(`stopping attempt ${attemptId}: ${why}`);
      r.abort.abort(new Error(why));
    }
  }

  /** Sends a message until the coordinator acknowledges it; 'stale' when it refuses the attempt. */
  async #deliver<E extends 'started' | 'finished'>(event: E, payload: Parameters<AgentToCoordinator[E]>[0], signal?: AbortSignal): Promise<'ok' | 'stale'> {
    let wait = 200;
    for (;;) {
      if (this.#closed && event === 'started') return 'stale';
      try {
        const s = this.#socket.timeout(ACK_TIMEOUT_MS);
        const reply: Ack =
          event === 'started'
            ? await s.emitWithAck('started', payload as Parameters<AgentToCoordinator['started']>[0])
            : await s.emitWithAck('finished', payload as Parameters<AgentToCoordinator['finished']>[0]);
        if (reply.ok) return 'ok';
        if (reply.error.code === 'stale_attempt') return 'stale';
        this.#log(`coordinator refused ${event}: ${reply.error.code}: ${reply.error.message}; retrying`);
      } catch {
        // no acknowledgement (disconnected or slow): send again after a pause
      }
      if (signal?.aborted && event === 'started') return 'stale';
      if (this.#closed) return 'stale';
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 5000);
    }
  }

  async #run(a: Assignment, slot: DeviceSlot, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const streamer = new LogStreamer(a.job_id, a.attempt_id, async (chunk) => {
      try {
        const reply = await this.#socket.timeout(ACK_TIMEOUT_MS).emitWithAck('log', chunk);
        return reply.ok ? 'ok' : reply.error.code === 'stale_attempt' ? 'stale' : 'retry';
      } catch {
        return 'retry';
      }
    });
    const say = (line: string) => streamer.push('agent', line);
    const finish = async (f: Omit<FinishedPayload, 'job_id' | 'attempt_id' | 'duration_ms' | 'log_chunks'>) => {
      await streamer.close();
      // The slot is free from here on: only the message is left to deliver.
      this.#running.delete(a.attempt_id);
      const r = await this.#deliver('finished', {
        job_id: a.job_id,
        attempt_id: a.attempt_id,
        duration_ms: Date.now() - started,
        log_chunks: streamer.chunks,
        ...f,
      });
      this.#log(`attempt ${a.attempt_id} ${f.outcome}${r === 'stale' ? ' (the coordinator had already moved on; result not stored)' : ''}`);
    };
    const error = (message: string) => finish({ outcome: 'error', error_message: message, test_cases: [], video: null, video_note: null });

    this.#log(`running ${a.test_path} (job ${a.job_id}, attempt ${a.attempt}) on ${a.slot_id}`);
    let prepared;
    try {
      prepared = await slot.prepare(a.app_version_id, say);
    } catch (err) {
      await slot.release();
      return error(`could not prepare the device on ${a.slot_id}: ${(err as Error).message}`);
    }
    const install = prepared.install ? { app_version_id: prepared.install.appVersionId, duration_ms: prepared.install.durationMs } : null;
    if ((await this.#deliver('started', { job_id: a.job_id, attempt_id: a.attempt_id, install }, signal)) === 'stale') {
      streamer.abandon();
      return;
    }

    const workDir = join(this.#workDir, 'attempts', a.attempt_id.replace(/[^A-Za-z0-9._-]/g, '_'));
    await mkdir(workDir, { recursive: true });
    const recording = await startRecording(prepared.session);
    let result: SpecResult;
    try {
      result = await runAppwrightSpec({
        projectDir: resolve(this.opts.projectDir),
        testPath: a.test_path,
        session: prepared.session,
        workDir,
        cacheDir: join(this.#workDir, 'playwright-cache'),
        onLine: (stream, text) => streamer.push(stream, text),
        signal,
      });
    } finally {
      await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
    const video = await stopRecording(prepared.session, recording);
    if (signal.aborted) {
      say(`stopped: ${(signal.reason as Error)?.message ?? 'aborted'}`);
      streamer.abandon();
      this.#running.delete(a.attempt_id);
      await this.#deliver('finished', {
        job_id: a.job_id,
        attempt_id: a.attempt_id,
        outcome: 'error',
        error_message: `stopped: ${(signal.reason as Error)?.message ?? 'aborted'}`,
        test_cases: result.testCases,
        duration_ms: Date.now() - started,
        log_chunks: streamer.chunks,
        video: null,
        video_note: null,
      });
      return;
    }
    if (result.outcome === 'error') {
      // The spec could not run (dead session, broken project): start from a fresh session next time.
      await slot.release();
    }
    await finish({
      outcome: result.outcome,
      error_message: result.errorMessage,
      test_cases: result.testCases,
      video: video.url ? { url: video.url, platform: a.platform } : null,
      video_note: video.note,
    });
  }
}

/** Starts an agent; resolves once it is connected and registered. */
export async function startAgent(opts: AgentOptions): Promise<AgentProcess> {
  if (opts.slots.length === 0) throw new Error('an agent needs at least one slot');
  const agent = new AgentProcess(opts);
  await agent.ready();
  return agent;
}
