/**
 * A BrowserStack App Automate slot: one cloud session per job, on the account's device named by
 * the slot. What qgjob controls here is the upload: a build is uploaded once per hash and its
 * `bs://` id reused across jobs (and agent restarts); BrowserStack installs it on its device for
 * every session. At the end of a run the session is marked passed/failed with the reason, ended,
 * and its video URL fetched once BrowserStack has it ready. Credentials never reach a log line.
 */
import type { LocalBuilds } from '../builds/local-builds.js';
import { type AppUploadCache, type BrowserStackClient, capabilitiesFor, startSessionWithApp } from '../cloud/browserstack.js';
import type { BrowserStackSlotConfig, SlotConfig } from '../options.js';
import type { DeviceSession } from '../runner/appwright-runner.js';
import type { Prepared, RunContext, RunVideo, Slot } from './slot.js';

export class BrowserStackSlot implements Slot {
  #session: DeviceSession | null = null;
  #installed: string | null = null;
  installs = 0;

  constructor(
    readonly config: SlotConfig & { browserstack: BrowserStackSlotConfig },
    private readonly builds: LocalBuilds,
    private readonly client: BrowserStackClient,
    private readonly cache: AppUploadCache,
    private readonly credentials: { username: string; accessKey: string },
  ) {}

  get installedAppVersionId(): string | null {
    return this.#installed;
  }

  /** The account whose parallel sessions this slot shares with others. */
  get cloudAccount(): string {
    return `browserstack:${this.credentials.username}`;
  }

  /** The account's parallel-session cap from BrowserStack's plan; null when it cannot be read. */
  async cloudCap(): Promise<number | null> {
    try {
      const plan = await this.client.plan();
      return plan.parallel_sessions_max_allowed > 0 ? plan.parallel_sessions_max_allowed : null;
    } catch {
      return null;
    }
  }

  async prepare(ctx: RunContext, say: (line: string) => void): Promise<Prepared> {
    await this.release();
    const build = await this.builds.resolve(ctx.appVersionId, ctx.build);
    const bs = this.config.browserstack;
    const started = Date.now();
    const { session, appUrl, uploaded } = await startSessionWithApp({
      client: this.client,
      cache: this.cache,
      file: build.path,
      sha256: build.sha256,
      say,
      capabilities: (app) =>
        capabilitiesFor({
          platform: this.config.platform,
          deviceName: this.config.deviceName,
          osVersion: bs.osVersion,
          appUrl: app,
          ...(bs.projectName ? { projectName: bs.projectName } : {}),
          buildName: bs.buildName ?? `qgjob ${ctx.appVersionId}`,
          sessionName: `${ctx.testPath} (job ${ctx.jobId})`,
          username: this.credentials.username,
          accessKey: this.credentials.accessKey,
          ...(this.config.capabilities ? { extra: this.config.capabilities } : {}),
        }),
    }).finally(() => build.release());
    const durationMs = Date.now() - started;
    this.#session = { endpoint: this.client.hubUrl, sessionId: session.sessionId, capabilities: session.capabilities, platform: this.config.platform };
    this.#installed = ctx.appVersionId;
    if (uploaded) this.installs++;
    say(
      `BrowserStack session ${session.sessionId} on ${this.config.deviceName} (${this.config.platform} ${bs.osVersion}) with app ${appUrl}` +
        (uploaded ? `: build ${ctx.appVersionId} uploaded for this job` : `: build ${ctx.appVersionId} was already uploaded (no upload)`),
    );
    return { session: this.#session, install: uploaded ? { appVersionId: ctx.appVersionId, durationMs } : null };
  }

  async beginRun(): Promise<void> {}

  async endRun(result: { passed: boolean; reason: string | null }, say: (line: string) => void): Promise<RunVideo> {
    const s = this.#session;
    this.#session = null;
    if (!s) return { url: null, note: null };
    try {
      await this.client.markSession(s.sessionId, result.passed ? 'passed' : 'failed', (result.reason ?? (result.passed ? 'passed' : 'failed')).slice(0, 255));
    } catch (err) {
      say(`could not mark BrowserStack session ${s.sessionId}: ${(err as Error).message}`);
    }
    await this.client.deleteSession(s.sessionId).catch(() => undefined);
    const v = this.config.browserstack.video ?? {};
    const video = await this.client.waitForVideoUrl(s.sessionId, v).catch((err: unknown) => ({
      url: null,
      contentType: null,
      reason: (err as Error).message,
    }));
    if (!video.url) return { url: null, note: `BrowserStack's video was not ready: ${video.reason ?? 'unknown reason'}` };
    return { url: video.url, note: video.contentType && !/^video\//.test(video.contentType) ? `served as ${video.contentType}` : null };
  }

  /** Marks a session that never finished as failed and ends it, so it does not hold a parallel slot. */
  async release(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    if (!s) return;
    await this.client.markSession(s.sessionId, 'failed', 'released by the qgjob agent before the run ended').catch(() => undefined);
    await this.client.deleteSession(s.sessionId).catch(() => undefined);
  }
}
