/**
 * The agent: connects to the coordinator's `/agents` namespace (reconnecting by itself), registers
 * its slots, renews its attempts' leases with heartbeats, takes the jobs pushed to it and runs each
 * on its slot's device: prepare the device session (install the build only if needed), run the
 * AppWright spec, stream its lines, report the result. `started` and `finished` are sent until
 * acknowledged; an attempt counts as running (in register and heartbeats) until its `finished`
 * was acknowledged, so a result reached while disconnected is delivered, not lost.
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
  type ErrorReason,
  type SlotHealth,
  type StartedPayload,
  QgError,
  VERSION,
} from '../shared/index.js';
import { BuildCache, BuildDownloadError } from './builds/build-cache.js';
import { LocalBuilds } from './builds/local-builds.js';
import { AppUploadCache, BrowserStackClient, BrowserStackError, credentialsFromEnv, DEFAULT_CREDENTIAL_ENV } from './cloud/browserstack.js';
import { BrowserStackSlot } from './device/browserstack-slot.js';
import { DeviceSlot } from './device/device-slot.js';
import { NoopSlot } from './device/noop-slot.js';
import type { Slot } from './device/slot.js';
import { type Logger, toLogger } from './log.js';
import { LogStreamer } from './log-streamer.js';
import type { Agent, AgentOptions } from './options.js';
import { runAppwrightSpec } from './runner/appwright-runner.js';

type AgentSocket = Socket<CoordinatorToAgent, AgentToCoordinator>;

interface Attempt extends RunningAttempt {
  abort: AbortController;
  /** True once the spec is over and only the `finished` message is left: the slot is free. */
  finishing: boolean;
  done: Promise<void>;
}

const ACK_TIMEOUT_MS = 10_000;
const SHUTDOWN = 'the agent is shutting down';
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A default agent id: the host name (made id-safe) and a hash of the slots it serves. */
function defaultAgentId(opts: AgentOptions): string {
  const host = hostname().replace(/[^A-Za-z0-9._:@-]/g, '-').slice(0, 100) || 'agent';
  const slots = opts.slots.map((s) => `${s.slotId}@${s.appiumUrl}`).join(',');
  return `${host}-${createHash('sha1').update(slots).digest('hex').slice(0, 8)}`;
}

/** A slot and how healthy its device is, as the agent sees it. */
interface SlotState {
  slot: Slot;
  health: SlotHealth;
  healthReason: string | null;
  /** Infrastructure failures in a row (a passing or failing test resets it). */
  failuresInARow: number;
  quarantinedUntilMs: number;
}

/** Infrastructure failures in a row after which a slot is quarantined. */
const QUARANTINE_AFTER = 3;

export class AgentProcess implements Agent {
  readonly agentId: string;
  readonly #slots = new Map<string, SlotState>();
  readonly #clouds = new Map<string, { client: BrowserStackClient; cache: AppUploadCache }>();
  #caps: Map<string, number | null> | null = null;
  #health: NodeJS.Timeout | null = null;
  readonly #attempts = new Map<string, Attempt>();
  readonly #socket: AgentSocket;
  readonly #workDir: string;
  readonly #log: Logger;
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;
  /** Set by close(): no new jobs are taken. */
  #draining = false;
  #closing: Promise<void> | null = null;
  #registered = false;
  readonly #ready: Promise<void>;
  readonly #refused: Promise<QgError>;

  constructor(private readonly opts: AgentOptions) {
    this.agentId = opts.agentId ?? defaultAgentId(opts);
    this.#log = toLogger(opts.log, 'agent').child({ agent_id: this.agentId });
    this.#workDir = resolve(opts.workDir ?? join('.qgjob', 'agent'));
    const cache = new BuildCache({
      dir: join(this.#workDir, 'builds'),
      baseUrl: opts.url,
      log: this.#log,
      ...(opts.buildCacheMaxBytes ? { maxBytes: opts.buildCacheMaxBytes } : {}),
      ...(opts.token ? { token: opts.token } : {}),
    });
    const builds = new LocalBuilds(opts.apps, cache);
    for (const s of opts.slots) {
      this.#slots.set(s.slotId, { slot: this.#makeSlot(s, builds), health: 'ok', healthReason: null, failuresInARow: 0, quarantinedUntilMs: 0 });
    }
    this.#socket = io(new URL(AGENTS_NAMESPACE, opts.url).href, {
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 250,
      reconnectionDelayMax: 5000,
      ...(opts.token ? { auth: { token: opts.token } } : {}),
    });
    let ready!: () => void;
    let readyOnce = false;
    this.#ready = new Promise((r) => (ready = r));
    let refuse!: (e: QgError) => void;
    this.#refused = new Promise((r) => (refuse = r));
    this.#socket.on('connect', () => void this.#registerWhileConnected().then(() => ((readyOnce = true), ready())));
    this.#socket.on('connect_error', (err: Error & { data?: { code?: unknown; message?: unknown } }) => {
      // The handshake refused the token: retrying with the same token cannot help, so stop.
      if (!this.#socket.active && err.data?.code === 'unauthorized') {
        const why = typeof err.data.message === 'string' ? err.data.message : err.message;
        const e = new QgError('unauthorized', `the coordinator at ${opts.url} refused this agent: ${why}`);
        if (readyOnce) this.#log.error(`${e.message}; stopping`);
        refuse(e);
        return;
      }
      this.#log.warn(`cannot reach the coordinator at ${opts.url}: ${err.message}; retrying`);
    });
    this.#socket.on('disconnect', (reason) => {
      this.#registered = false;
      if (this.#closed) return;
      this.#log.warn(`disconnected from the coordinator (${reason}); reconnecting`);
      // After a server-side disconnect socket.io-client does not reconnect by itself.
      if (reason === 'io server disconnect') setTimeout(() => !this.#closed && this.#socket.connect(), 250);
    });
    this.#socket.on('assign', (a, ack) => ack(this.#accept(a)));
    this.#socket.on('cancel', (c) => this.#stop(c.attempt_id, `cancelled by the coordinator: ${c.reason}`));
  }

  #makeSlot(config: AgentOptions['slots'][number], builds: LocalBuilds): Slot {
    if (config.noop) return new NoopSlot(config, config.noop);
    if (config.target !== 'browserstack') return new DeviceSlot(config, builds);
    if (!config.browserstack) throw new Error(`slot ${config.slotId}: a browserstack slot needs "browserstack": { "os_version": … }`);
    const bs = config.browserstack;
    const credentials = credentialsFromEnv(process.env, {
      username: bs.usernameEnv ?? DEFAULT_CREDENTIAL_ENV.username,
      accessKey: bs.accessKeyEnv ?? DEFAULT_CREDENTIAL_ENV.accessKey,
    });
    // One client and one upload cache per account and endpoint, shared by its slots: a build is uploaded once.
    const key = `${credentials.username}@${bs.apiBase ?? ''}@${bs.hubUrl ?? ''}`;
    let cloud = this.#clouds.get(key);
    if (!cloud) {
      const client = new BrowserStackClient({ ...credentials, ...(bs.apiBase ? { apiBase: bs.apiBase } : {}), ...(bs.hubUrl ? { hubUrl: bs.hubUrl } : {}) });
      cloud = { client, cache: new AppUploadCache({ client, dir: join(this.#workDir, 'browserstack'), log: this.#log }) };
      this.#clouds.set(key, cloud);
    }
    return new BrowserStackSlot({ ...config, browserstack: bs }, builds, cloud.client, cloud.cache, credentials);
  }

  /** Resolves once the coordinator accepted the agent's first registration. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Resolves with an `unauthorized` error when the coordinator refused the agent's token (missing
   * or wrong); the agent does not reconnect after it, and should be closed.
   */
  refused(): Promise<QgError> {
    return this.#refused;
  }

  /**
   * Graceful shutdown: tells the coordinator to send no new jobs, lets running specs finish for up
   * to `graceMs` (default 0), then stops the rest and hands them back (`agent_shutdown`: the
   * coordinator queues them again at once), ends device sessions and disconnects.
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      this.#draining = true;
      if (this.#socket.connected && this.#registered) {
        await this.#socket.timeout(2000).emitWithAck('drain', {}).catch(() => undefined);
      }
      const running = () => [...this.#attempts.values()];
      const graceMs = opts.graceMs ?? 0;
      if (running().length && graceMs > 0) {
        this.#log.info(`waiting up to ${graceMs} ms for ${running().length} running attempt(s) to finish`);
        await Promise.race([Promise.allSettled(running().map((a) => a.done)), wait(graceMs)]);
      }
      for (const a of running()) if (!a.finishing) a.abort.abort(new Error(SHUTDOWN));
      await Promise.race([Promise.allSettled(running().map((a) => a.done)), wait(2 * ACK_TIMEOUT_MS)]);
      this.#closed = true;
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      if (this.#health) clearInterval(this.#health);
      this.#socket.close();
      await Promise.allSettled([...this.#slots.values()].map((s) => s.slot.release()));
    })();
    return this.#closing;
  }

  #runningList(): RunningAttempt[] {
    return [...this.#attempts.values()].map(({ job_id, attempt_id, slot_id }) => ({ job_id, attempt_id, slot_id }));
  }

  /** Registers, retrying with backoff for as long as this connection lasts. */
  async #registerWhileConnected(): Promise<void> {
    let pause = 250;
    while (this.#socket.connected && !this.#closed && !this.#registered) {
      try {
        await this.#register();
        return;
      } catch (err) {
        this.#log.warn(`register failed: ${(err as Error).message}; retrying in ${pause} ms`);
        await wait(pause);
        pause = Math.min(pause * 2, 5000);
      }
    }
  }

  /** Cloud accounts' parallel-session caps, read once per account (best effort). */
  async #cloudCaps(): Promise<Map<string, number | null>> {
    if (this.#caps) return this.#caps;
    const caps = new Map<string, number | null>();
    for (const { slot } of this.#slots.values()) {
      if (slot instanceof BrowserStackSlot && !caps.has(slot.cloudAccount)) caps.set(slot.cloudAccount, await slot.cloudCap());
    }
    // A cap that could not be read is asked for again at the next register.
    if ([...caps.values()].every((c) => c !== null)) this.#caps = caps;
    return caps;
  }

  async #register(): Promise<void> {
    const caps = await this.#cloudCaps();
    const reply = await this.#socket.timeout(ACK_TIMEOUT_MS).emitWithAck('register', {
      agent_id: this.agentId,
      name: this.opts.name ?? hostname(),
      version: VERSION,
      slots: [...this.#slots.values()].map((s) => ({
        slot_id: s.slot.config.slotId,
        target: s.slot.config.target,
        platform: s.slot.config.platform,
        device_name: s.slot.config.deviceName,
        endpoint: s.slot.config.appiumUrl,
        installed_app_version_id: s.slot.installedAppVersionId,
        health: s.health,
        health_reason: s.healthReason,
        cloud_account: s.slot instanceof BrowserStackSlot ? s.slot.cloudAccount : null,
        cloud_cap: s.slot instanceof BrowserStackSlot ? (caps.get(s.slot.cloudAccount) ?? null) : null,
      })),
      running: this.#runningList(),
    });
    if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
    if (this.#closed) return;
    this.#registered = true;
    for (const id of reply.cancel_attempts) this.#stop(id, 'the coordinator no longer considers this attempt current');
    this.#log.info(`registered as ${this.agentId} with ${this.#slots.size} slot(s) at ${this.opts.url}`);
    // Health or builds that changed while the register was under way.
    for (const st of this.#slots.values()) this.#reportSlot(st);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#beat(), reply.heartbeat_interval_ms);
    if (!this.#health) {
      this.#health = setInterval(() => void this.#checkHealth(), this.opts.healthIntervalMs ?? 10_000);
      void this.#checkHealth();
    }
  }

  /**
   * Device health: a lab slot whose Appium server does not answer `/status` is offline (no jobs)
   * until it answers again; a quarantine ends after its time. Changes are reported at once.
   */
  async #checkHealth(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.#slots.values()].map(async (st) => {
        if (st.health === 'quarantined') {
          if (now >= st.quarantinedUntilMs) this.#setHealth(st, 'ok', null);
          return;
        }
        if (st.slot instanceof BrowserStackSlot) {
          // The cloud's health shows in its session answers; an account marked offline (refused
          // credentials) is checked again through the plan API until it answers.
          if (st.health === 'offline' && (await st.slot.cloudCap()) !== null) this.#setHealth(st, 'ok', null);
          return;
        }
        if (st.slot.runJob) return; // a benchmarks' noop slot: no device to check
        const busy = [...this.#attempts.values()].some((a) => a.slot_id === st.slot.config.slotId && !a.finishing);
        if (busy) return; // a running spec proves (or disproves) the device itself
        const url = `${st.slot.config.appiumUrl.replace(/\/+$/, '')}/status`;
        const ok = await fetch(url, { signal: AbortSignal.timeout(5000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok && st.health === 'offline') this.#setHealth(st, 'ok', null);
        if (!ok && st.health === 'ok') this.#setHealth(st, 'offline', `the device's Appium server at ${st.slot.config.appiumUrl} does not answer`);
      }),
    );
  }

  #setHealth(st: SlotState, health: SlotHealth, reason: string | null): void {
    if (st.health === health && st.healthReason === reason) return;
    st.health = health;
    st.healthReason = reason;
    if (health === 'ok') st.failuresInARow = 0;
    this.#log[health === 'ok' ? 'info' : 'warn']({ slot_id: st.slot.config.slotId }, `slot ${st.slot.config.slotId} is ${health}${reason ? `: ${reason}` : ''}`);
    this.#reportSlot(st);
  }

  /** Counts an attempt's outcome for the slot: several infrastructure failures in a row quarantine it. */
  #judge(st: SlotState, outcome: 'passed' | 'failed' | 'error', reason: ErrorReason | null, message: string | null): void {
    if (outcome !== 'error') {
      st.failuresInARow = 0;
      return;
    }
    if (reason === 'agent_shutdown' || reason === 'cloud_quota') return; // not the device's fault
    st.failuresInARow++;
    if (st.failuresInARow >= QUARANTINE_AFTER && st.health === 'ok') {
      st.quarantinedUntilMs = Date.now() + (this.opts.quarantineMs ?? 10 * 60_000);
      this.#setHealth(st, 'quarantined', `${st.failuresInARow} infrastructure failures in a row; last: ${(message ?? '').slice(0, 300)}`);
    }
  }

  #beat(): void {
    if (!this.#socket.connected || !this.#registered) return;
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
    if (slot.health !== 'ok') return { ok: false, error: { code: 'illegal_transition', message: `slot ${a.slot_id} is ${slot.health}` } };
    if (this.#draining) return { ok: false, error: { code: 'illegal_transition', message: SHUTDOWN } };
    if (this.#attempts.has(a.attempt_id)) return { ok: true }; // a resent assignment: already taken
    if ([...this.#attempts.values()].some((r) => r.slot_id === a.slot_id && !r.finishing)) {
      return { ok: false, error: { code: 'illegal_transition', message: `slot ${a.slot_id} is busy` } };
    }
    const attempt = { job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id, abort: new AbortController(), finishing: false } as Attempt;
    attempt.done = this.#run(a, slot, attempt)
      .catch((err: unknown) => this.#log.error({ err, job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id }, `attempt ${a.attempt_id} crashed; its lease runs out and the coordinator runs the job again`))
      .finally(() => this.#attempts.delete(a.attempt_id));
    this.#attempts.set(a.attempt_id, attempt);
    return { ok: true };
  }

  #stop(attemptId: string, why: string): void {
    const a = this.#attempts.get(attemptId);
    if (a && !a.abort.signal.aborted && !a.finishing) {
      this.#log.info({ job_id: a.job_id, attempt_id: attemptId, slot_id: a.slot_id }, `stopping attempt ${attemptId}: ${why}`);
      a.abort.abort(new Error(why));
    }
  }

  /** Sends `started` or `finished` until the coordinator acknowledges it; 'stale' when it refuses the attempt. */
  async #deliver(event: 'started', payload: StartedPayload, abort?: AbortSignal): Promise<'ok' | 'stale'>;
  async #deliver(event: 'finished', payload: FinishedPayload): Promise<'ok' | 'stale'>;
  async #deliver(event: 'started' | 'finished', payload: StartedPayload | FinishedPayload, abort?: AbortSignal): Promise<'ok' | 'stale'> {
    let pause = 200;
    for (;;) {
      try {
        const s = this.#socket.timeout(ACK_TIMEOUT_MS);
        const reply: Ack =
          event === 'started' ? await s.emitWithAck('started', payload as StartedPayload) : await s.emitWithAck('finished', payload as FinishedPayload);
        if (reply.ok) return 'ok';
        if (reply.error.code === 'stale_attempt' || reply.error.code === 'validation_failed') {
          if (reply.error.code === 'validation_failed') this.#log.error({ job_id: payload.job_id, attempt_id: payload.attempt_id }, `coordinator refused ${event} as invalid: ${reply.error.message}; not sent again`);
          return 'stale';
        }
        this.#log.warn({ job_id: payload.job_id, attempt_id: payload.attempt_id }, `coordinator refused ${event}: ${reply.error.code}: ${reply.error.message}; retrying`);
      } catch {
        // no acknowledgement (disconnected or slow): send again after a pause
      }
      if (this.#closed || abort?.aborted) return 'stale';
      await wait(pause);
      pause = Math.min(pause * 2, 5000);
    }
  }

  #reportSlot(st: SlotState): void {
    if (!this.#socket.connected || !this.#registered) return; // the next register carries it
    this.#socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck('slot_update', {
        slot_id: st.slot.config.slotId,
        installed_app_version_id: st.slot.installedAppVersionId,
        health: st.health,
        health_reason: st.healthReason,
      })
      .catch(() => undefined);
  }

  async #run(a: Assignment, st: SlotState, attempt: Attempt): Promise<void> {
    const slot = st.slot;
    const signal = attempt.abort.signal;
    const startedAt = Date.now();
    const log = this.#log.child({ job_id: a.job_id, attempt_id: a.attempt_id, slot_id: a.slot_id });
    const streamer = new LogStreamer(a.job_id, a.attempt_id, async (chunk) => {
      if (this.#closed && signal.aborted) return 'stale';
      try {
        const reply = await this.#socket.timeout(ACK_TIMEOUT_MS).emitWithAck('log', chunk);
        if (reply.ok) return 'ok';
        return reply.error.code === 'stale_attempt' ? 'stale' : reply.error.code === 'validation_failed' ? 'invalid' : 'retry';
      } catch {
        return 'retry';
      }
    });
    const say = (line: string) => streamer.push('agent', line);
    let notTheDevice = false;
    const report = async (f: Pick<FinishedPayload, 'outcome' | 'error_message' | 'test_cases' | 'video' | 'video_note' | 'error_reason'>) => {
      if (signal.aborted) streamer.abandon();
      await streamer.close();
      attempt.finishing = true; // the slot is free from here on: only the message is left to deliver
      const r = await this.#deliver('finished', {
        job_id: a.job_id,
        attempt_id: a.attempt_id,
        duration_ms: Date.now() - startedAt,
        log_chunks: streamer.chunks,
        ...f,
        error_message: f.error_message?.slice(0, 20_000) ?? null,
        test_cases: f.test_cases.slice(0, 1000).map((t) => ({ ...t, error_message: t.error_message?.slice(0, 4000) ?? null })),
      });
      // A stopped run (cancel, deadline, shutdown) or a build that could not be fetched says nothing about the device.
      if (!signal.aborted && !notTheDevice) this.#judge(st, f.outcome, f.error_reason ?? (f.outcome === 'error' ? 'runner_error' : null), f.error_message);
      const lost = streamer.undelivered ? `; ${streamer.undelivered} log line(s) not delivered` : '';
      log.info(`attempt ${a.attempt_id} ${f.outcome}${r === 'stale' ? ' (the coordinator had moved on; result not stored)' : ''}${lost}`);
    };
    const error = (message: string, reason: ErrorReason = 'runner_error') =>
      report({ outcome: 'error', error_message: message, error_reason: reason, test_cases: [], video: null, video_note: null });

    log.info(`running ${a.test_path} (job ${a.job_id}, attempt ${a.attempt}) on ${a.slot_id}`);
    let prepared;
    try {
      prepared = await slot.prepare({ jobId: a.job_id, appVersionId: a.app_version_id, testPath: a.test_path, build: a.build }, say);
    } catch (err) {
      await slot.release();
      const message = `could not prepare the device on ${a.slot_id}: ${(err as Error).message}`;
      let reason: ErrorReason = 'runner_error';
      if (err instanceof BuildDownloadError) notTheDevice = true; // the build could not be fetched
      else if (err instanceof BrowserStackError && err.code === 'parallels-in-use') reason = 'cloud_quota';
      else if (err instanceof BrowserStackError && err.code === 'auth-failed') this.#setHealth(st, 'offline', 'BrowserStack refused the credentials');
      else if (slot.config.target !== 'browserstack') {
        // A device that does not answer at all is offline, not just unlucky.
        const up = await fetch(`${slot.config.appiumUrl.replace(/\/+$/, '')}/status`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
        if (!up) {
          reason = 'device_offline';
          this.#setHealth(st, 'offline', `the device's Appium server at ${slot.config.appiumUrl} does not answer`);
        }
      }
      this.#reportSlot(st);
      return error(message, reason);
    }
    const install = prepared.install ? { app_version_id: prepared.install.appVersionId, duration_ms: prepared.install.durationMs } : null;
    if ((await this.#deliver('started', { job_id: a.job_id, attempt_id: a.attempt_id, install }, signal)) === 'stale') {
      streamer.abandon();
      if (install) this.#reportSlot(st); // the install happened even though the coordinator did not record it
      return;
    }

    const workDir = join(this.#workDir, 'attempts', a.attempt_id.replace(/[^A-Za-z0-9._-]/g, '_'));
    try {
      if (!slot.runJob) await mkdir(workDir, { recursive: true });
      await slot.beginRun();
      const runJob = slot.runJob?.bind(slot);
      const ctx = { jobId: a.job_id, appVersionId: a.app_version_id, testPath: a.test_path, build: a.build };
      const result = runJob ? await runJob(ctx, { onLine: (stream, text) => streamer.push(stream, text), room: () => streamer.room(), signal }) : await runAppwrightSpec({
        projectDir: resolve(this.opts.projectDir),
        testPath: a.test_path,
        session: prepared.session,
        workDir,
        cacheDir: join(this.#workDir, 'playwright-cache'),
        onLine: (stream, text) => streamer.push(stream, text),
        signal,
        retries: a.test_retries,
      });
      const upload = async (bytes: Buffer, contentType: string): Promise<string> => {
        const res = await fetch(new URL(`/api/v1/jobs/${encodeURIComponent(a.job_id)}/video?attempt_id=${encodeURIComponent(a.attempt_id)}`, this.opts.url), {
          method: 'PUT',
          headers: { 'content-type': contentType, ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) },
          body: new Uint8Array(bytes),
          signal: AbortSignal.timeout(120_000),
        });
        const body = (await res.json().catch(() => ({}))) as { url?: string; error?: { message?: string } };
        if (!res.ok || !body.url) throw new Error(`HTTP ${res.status}: ${body.error?.message ?? 'no URL in the answer'}`);
        say(`uploaded the screen recording (${bytes.length} bytes, ${contentType}): ${body.url}`);
        return body.url;
      };
      const video = await slot.endRun({ passed: result.outcome === 'passed', reason: result.errorMessage }, say, upload);
      if (signal.aborted) {
        const cause = (signal.reason as Error)?.message ?? 'aborted';
        say(`stopped: ${cause}`);
        // A cancelled or timed-out run ends its device session too (a fresh one serves the next job).
        await slot.release();
        this.#reportSlot(st);
        return await report({
          outcome: 'error',
          error_message: `stopped: ${cause}`,
          error_reason: cause === SHUTDOWN ? 'agent_shutdown' : 'runner_error',
          test_cases: result.testCases,
          video: null,
          video_note: null,
        });
      }
      if (result.outcome === 'error') {
        // The spec could not run (dead session, broken project): start from a fresh session next time.
        await slot.release();
        this.#reportSlot(st);
      }
      await report({
        outcome: result.outcome,
        error_message: result.errorMessage,
        test_cases: result.testCases,
        video: video.url ? { url: video.url, platform: a.platform } : null,
        video_note: video.note,
      });
    } catch (err) {
      // Our side broke after `started` (disk full, a bug): still report, so the job is retried now, not after a lease.
      if (!attempt.finishing) await error(`the agent failed while running the spec: ${(err as Error).message}`);
      else throw err;
    } finally {
      if (!slot.runJob) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/**
 * Starts an agent; resolves once it is connected and registered. Rejects with `unauthorized` when
 * the coordinator refuses its token (it is closed then).
 */
export async function startAgent(opts: AgentOptions): Promise<AgentProcess> {
  if (opts.slots.length === 0) throw new Error('an agent needs at least one slot');
  const agent = new AgentProcess(opts);
  const refused = await Promise.race([agent.ready().then(() => null), agent.refused()]);
  if (refused) {
    await agent.close();
    throw refused;
  }
  return agent;
}
