/** Options of an agent process. Times in milliseconds. */
import type { Platform, QgError, Target } from '../shared/index.js';

/** One device (or emulator) the agent drives through an Appium/WebDriver endpoint. */
export interface SlotConfig {
  /** Unique within the agent, e.g. `pixel-7-a`. */
  slotId: string;
  target: Target;
  platform: Platform;
  deviceName: string;
  /** Appium/WebDriver base URL, e.g. `http://127.0.0.1:4723`. */
  appiumUrl: string;
  /** Extra capabilities merged over the ones generated for the platform (e.g. `appium:udid`). */
  capabilities?: Record<string, unknown>;
  /** For `target: 'browserstack'`: the cloud device (deviceName is BrowserStack's device name). */
  browserstack?: BrowserStackSlotConfig;
}

/** A BrowserStack slot. Credentials come from the environment, never from files or flags. */
export interface BrowserStackSlotConfig {
  /** e.g. `14.0`. */
  osVersion: string;
  /** Env var holding the user name. Default BROWSERSTACK_USERNAME. */
  usernameEnv?: string;
  /** Env var holding the access key. Default BROWSERSTACK_ACCESS_KEY. */
  accessKeyEnv?: string;
  /** REST API base. Default https://api-cloud.browserstack.com. */
  apiBase?: string;
  /** WebDriver hub. Default https://hub.browserstack.com/wd/hub. */
  hubUrl?: string;
  projectName?: string;
  /** Default `qgjob <app_version_id>`. */
  buildName?: string;
  /** How long to wait for the session video (reads of the session, backoff). */
  video?: { attempts?: number; firstDelayMs?: number; maxDelayMs?: number };
}

export interface AgentOptions {
  /** Coordinator base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /**
   * The agent token (the coordinator's QGJOB_AGENT_TOKEN, or its admin token): sent in the `/agents`
   * handshake, with video uploads and with build downloads. Default: none (env QGJOB_AGENT_TOKEN
   * for `qgjob agent`). A coordinator that refuses it stops the agent (`refused()`).
   */
  token?: string;
  /** Stable id of this agent; default derived from the host name and the slot ids. */
  agentId?: string;
  /** Human name shown in `qgjob agents`; default the host name. */
  name?: string;
  /** The AppWright test project (a folder with package.json, appwright.config.ts and the specs). */
  projectDir: string;
  /**
   * App builds by app_version_id: the file installed on a device for that version. The key `*` is the
   * build used for any version not listed (handy for a single-build lab and for the fake driver).
   */
  apps: Record<string, string>;
  slots: SlotConfig[];
  /** Folder for per-attempt work folders and caches. Default `.qgjob/agent`. */
  workDir?: string;
  /** Bytes of downloaded registry builds kept in `<workDir>/builds` (LRU). Default 10 GiB. */
  buildCacheMaxBytes?: number;
  /** How often lab devices' Appium servers are checked while idle (ms). Default 10000. */
  healthIntervalMs?: number;
  /** How long a slot stays quarantined after 3 infrastructure failures in a row (ms). Default 600000. */
  quarantineMs?: number;
  /** Where operational log lines go. Default: stderr. */
  log?: (line: string) => void;
}

export interface Agent {
  readonly agentId: string;
  /**
   * Graceful shutdown: no new jobs; running specs get `graceMs` (default 0) to finish, the rest
   * are stopped and handed back to the coordinator; device sessions end; then it disconnects.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
  /** Resolves with an `unauthorized` error if the coordinator refuses the agent's token; the agent then stops reconnecting. */
  refused(): Promise<QgError>;
}
