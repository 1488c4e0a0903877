/**
 * A device-lab slot: the WebDriver session the agent owns on the slot's Appium server, and the
 * build installed through it. Jobs whose build (by sha256) is already installed reuse the session:
 * no install. Another build ends it and starts a new one with that build: one install. The session
 * is health-checked before every reuse. The screen is recorded where the driver can.
 */
import type { BuildFile, LocalBuilds } from '../builds/local-builds.js';
import type { SlotConfig } from '../options.js';
import type { DeviceSession } from '../runner/appwright-runner.js';
import { capabilitiesFor } from './capabilities.js';
import { type Recording, startRecording, stopRecording } from './recording.js';
import type { Prepared, RunContext, RunVideo, Slot, VideoUploader } from './slot.js';
import { deleteSession, isSessionAlive, newSession } from './webdriver-client.js';

export class DeviceSlot implements Slot {
  #session: DeviceSession | null = null;
  #installed: { appVersionId: string; sha256: string } | null = null;
  #recording: Recording | null = null;
  installs = 0;

  constructor(
    readonly config: SlotConfig,
    private readonly builds: LocalBuilds,
  ) {}

  get installedAppVersionId(): string | null {
    return this.#installed?.appVersionId ?? null;
  }

  async prepare(ctx: RunContext, say: (line: string) => void): Promise<Prepared> {
    const build = await this.builds.resolve(ctx.appVersionId, ctx.build);
    try {
      return await this.#prepare(ctx, build, say);
    } finally {
      build.release();
    }
  }

  async #prepare(ctx: RunContext, build: BuildFile, say: (line: string) => void): Promise<Prepared> {
    const s = this.#session;
    if (s && this.#installed?.sha256 === build.sha256) {
      if (await isSessionAlive(s.endpoint, s.sessionId)) {
        say(`build ${ctx.appVersionId} (sha256 ${build.sha256.slice(0, 12)}) is already installed on ${this.config.slotId}: reusing session ${s.sessionId}`);
        this.#installed = { appVersionId: ctx.appVersionId, sha256: build.sha256 };
        return { session: s, install: null };
      }
      say(`session ${s.sessionId} on ${this.config.slotId} is gone; starting a new one`);
    } else if (s && this.#installed?.appVersionId === ctx.appVersionId) {
      say(`build ${ctx.appVersionId} changed (sha256 ${this.#installed.sha256.slice(0, 12)} → ${build.sha256.slice(0, 12)}): installing it again`);
    }
    await this.release();
    say(`installing build ${ctx.appVersionId} (sha256 ${build.sha256.slice(0, 12)}) on ${this.config.slotId} (${this.config.deviceName}): new session at ${this.config.appiumUrl}`);
    const started = Date.now();
    const created = await newSession(this.config.appiumUrl, capabilitiesFor(this.config, build.path));
    const durationMs = Date.now() - started;
    this.#session = { endpoint: this.config.appiumUrl, sessionId: created.sessionId, capabilities: created.capabilities, platform: this.config.platform };
    this.#installed = { appVersionId: ctx.appVersionId, sha256: build.sha256 };
    this.installs++;
    say(`build ${ctx.appVersionId} installed in ${durationMs} ms (session ${created.sessionId})`);
    return { session: this.#session, install: { appVersionId: ctx.appVersionId, durationMs } };
  }

  async beginRun(): Promise<void> {
    this.#recording = this.#session ? await startRecording(this.#session) : null;
  }

  async endRun(_result: unknown, _say: unknown, upload: VideoUploader): Promise<RunVideo> {
    const rec = this.#recording;
    this.#recording = null;
    if (!rec || !this.#session) return { url: null, note: null };
    return stopRecording(this.#session, rec, upload);
  }

  /** Ends the session (best effort: a dead server has nothing to end). */
  async release(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    this.#installed = null;
    this.#recording = null;
    if (s) await deleteSession(s.endpoint, s.sessionId).catch(() => undefined);
  }
}
