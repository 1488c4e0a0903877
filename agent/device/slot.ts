/**
 * What the agent needs from a slot, whatever is behind it: a device in the lab (an Appium
 * session the agent keeps between jobs of the same build) or a cloud device (a BrowserStack
 * session per job). The agent prepares the slot for a job, runs the spec on its session, and
 * ends the run, which yields the run's video or the reason there is none.
 */
import type { AssignedBuild } from '../../shared/index.js';
import type { SlotConfig } from '../options.js';
import type { DeviceSession, SpecResult } from '../runner/appwright-runner.js';

export interface RunContext {
  jobId: string;
  appVersionId: string;
  testPath: string;
  /** The registered build the coordinator assigned; null when the agent provides the build. */
  build: AssignedBuild | null;
}

export interface Prepared {
  session: DeviceSession;
  /** Set when the build had to be installed (lab) or uploaded (cloud) for this job. */
  install: { appVersionId: string; durationMs: number } | null;
}

export interface RunVideo {
  url: string | null;
  /** Why there is no video, or what the video is (e.g. its content type), when worth saying. */
  note: string | null;
}

/** What a slot that runs jobs itself gets from the agent (see `Slot.runJob`). */
export interface JobRunIo {
  onLine: (stream: 'stdout' | 'stderr', text: string) => void;
  /**
   * Flow control of the attempt's log streamer: null when it can take another line now, else a
   * promise that resolves once it can (see LogStreamer.room). `onLine` works regardless.
   */
  room: () => Promise<void> | null;
  signal: AbortSignal;
}

/** Uploads a recorded video for the running attempt; resolves with its stable URL. */
export type VideoUploader = (bytes: Buffer, contentType: string) => Promise<string>;

export interface Slot {
  readonly config: SlotConfig;
  /** The build the slot's device has, as far as the agent knows; null when none or unknown. */
  readonly installedAppVersionId: string | null;
  /** Builds installed (or uploaded) through this slot since the agent started. */
  readonly installs: number;
  /** A live session on which the job's build is installed. */
  prepare(ctx: RunContext, say: (line: string) => void): Promise<Prepared>;
  /** The spec is about to run on the prepared session (e.g. start recording the screen). */
  beginRun(): Promise<void>;
  /** The spec ended: settle the session for this run and return the run's video. */
  endRun(result: { passed: boolean; reason: string | null }, say: (line: string) => void, upload: VideoUploader): Promise<RunVideo>;
  /** Ends the session, if any (after a broken or stopped run, and at shutdown). */
  release(): Promise<void>;
  /**
   * Benchmarks only (the noop slot): runs the job itself instead of the AppWright runner. A slot
   * with it has no Appium server, so the agent does not health-check it.
   */
  runJob?(ctx: RunContext, io: JobRunIo): Promise<SpecResult>;
}
