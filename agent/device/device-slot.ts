/**
 * One slot's device: the WebDriver session the agent owns on the slot's Appium server, and the
 * build installed through it. Jobs of the build already installed reuse the session (no install);
 * another build ends it and starts a new one with that build (one install). The session is
 * health-checked before every reuse.
 */
import { access } from 'node:fs/promises';
import type { SlotConfig } from '../options.js';
import type { DeviceSession } from '../runner/appwright-runner.js';
import { capabilitiesFor } from './capabilities.js';
import { deleteSession, isSessionAlive, newSession } from './webdriver-client.js';

export interface Prepared {
  session: DeviceSession;
  /** Set when the build had to be installed for this job (a new session). */
  install: { appVersionId: string; durationMs: number } | null;
}

export class DeviceSlot {
  #session: DeviceSession | null = null;
  #appVersionId: string | null = null;
  /** Installs made through this slot since the agent started. */
  installs = 0;

  constructor(
    readonly config: SlotConfig,
    private readonly apps: Record<string, string>,
  ) {}

  /** The build installed by the session the agent holds; null before the first job. */
  get installedAppVersionId(): string | null {
    return this.#appVersionId;
  }

  /** The build file for a version; throws with a clear message when the agent has none. */
  async appFor(appVersionId: string): Promise<string> {
    const path = this.apps[appVersionId] ?? this.apps['*'];
    if (!path) throw new Error(`this agent has no build for app_version_id ${appVersionId} (configure "apps" or --app)`);
    try {
      await access(path);
    } catch {
      throw new Error(`the build file for app_version_id ${appVersionId} does not exist: ${path}`);
    }
    return path;
  }

  /** A live session with `appVersionId` installed, reusing the current one when it already is. */
  async prepare(appVersionId: string, say: (line: string) => void): Promise<Prepared> {
    const s = this.#session;
    if (s && this.#appVersionId === appVersionId) {
      if (await isSessionAlive(s.endpoint, s.sessionId)) {
        say(`build ${appVersionId} is already installed on ${this.config.slotId}: reusing session ${s.sessionId}`);
        return { session: s, install: null };
      }
      say(`session ${s.sessionId} on ${this.config.slotId} is gone; starting a new one`);
    }
    await this.release();
    const app = await this.appFor(appVersionId);
    say(`installing build ${appVersionId} on ${this.config.slotId} (${this.config.deviceName}): new session at ${this.config.appiumUrl}`);
    const started = Date.now();
    const created = await newSession(this.config.appiumUrl, capabilitiesFor(this.config, app));
    const durationMs = Date.now() - started;
    this.#session = { endpoint: this.config.appiumUrl, sessionId: created.sessionId, capabilities: created.capabilities, platform: this.config.platform };
    this.#appVersionId = appVersionId;
    this.installs++;
    say(`build ${appVersionId} installed in ${durationMs} ms (session ${created.sessionId})`);
    return { session: this.#session, install: { appVersionId, durationMs } };
  }

  /** Ends the session (best effort: a dead server has nothing to end). */
  async release(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    this.#appVersionId = null;
    if (s) await deleteSession(s.endpoint, s.sessionId).catch(() => undefined);
  }
}
