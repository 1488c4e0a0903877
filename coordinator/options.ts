/** Options of a coordinator process, with their defaults. Times in milliseconds. */
export interface CoordinatorOptions {
  /** Interface to listen on. Default `127.0.0.1` (env QGJOB_HOST). */
  host?: string;
  /** Port for HTTP and Socket.IO. Default 8080 (env QGJOB_PORT); 0 picks a free port. */
  port?: number;
  /**
   * Database URL. `mysql://user:pass@host:port/db` selects MySQL; `sqlite:<file>` (or a bare file path)
   * an embedded SQLite file. Default: env DATABASE_URL, else `<dataDir>/qgjob.sqlite`.
   */
  databaseUrl?: string;
  /** Folder for the embedded database and other local state. Default `.qgjob` (env QGJOB_DATA_DIR). */
  dataDir?: string;
  /** How often agents send heartbeats. Default 5000 (env QGJOB_HEARTBEAT_MS). */
  heartbeatIntervalMs?: number;
  /** An attempt's lease: lost when no heartbeat renews it for this long. Default 15000 (env QGJOB_LEASE_MS). */
  leaseMs?: number;
  /** An assignment not acknowledged by the agent within this time is taken back. Default 10000 (env QGJOB_ASSIGN_ACK_TIMEOUT_MS). */
  assignAckTimeoutMs?: number;
  /** First retry delay after an infrastructure error (ms), doubled per attempt, with jitter. Default 1000 (env QGJOB_RETRY_BASE_MS). */
  retryBaseMs?: number;
  /** Largest retry delay (ms). Default 30000 (env QGJOB_RETRY_MAX_MS). */
  retryMaxMs?: number;
  /**
   * After a restart, how long jobs found on slots wait for their agents to reconnect and report
   * before they are requeued (ms). Default: the lease (env QGJOB_RESTART_GRACE_MS).
   */
  restartGraceMs?: number;
  /** Folder for session videos uploaded by agents. Default `<dataDir>/videos` (env QGJOB_VIDEO_DIR). */
  videoDir?: string;
  /**
   * The coordinator's URL as others reach it, for links such as video URLs (e.g. behind a proxy).
   * Default: the origin a request came to (env QGJOB_PUBLIC_URL).
   */
  publicUrl?: string;
  /**
   * Largest app build accepted by `POST /api/v1/apps`, in bytes (uploads and registered URLs).
   * Default 2 GiB (env QGJOB_MAX_BUILD_BYTES). Uploaded builds are kept in `<dataDir>/builds/`.
   */
  maxBuildBytes?: number;
  /**
   * API tokens: comma-separated `org=token` pairs, `*=token` for the admin (every org), e.g.
   * `qualgent=s3cr3t-1,*=admin-s3cr3t`. With them every `/api/v1` request and `/watch` connection
   * needs a token and an org's token sees only its org. Default: none, the API is open (env
   * QGJOB_TOKENS; `qgjob coordinator` reads it from the environment only). See README "Authentication".
   */
  tokens?: string;
  /**
   * The agents' token: agents must present it (or the admin token) to register, upload videos and
   * download builds. Default: none (env QGJOB_AGENT_TOKEN); with `tokens` but no agent token only
   * the admin token registers agents.
   */
  agentToken?: string;
  /** Where operational log lines go. Default: stderr. */
  log?: (line: string) => void;
}

export interface Coordinator {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, closes sockets and the database. */
  close(): Promise<void>;
}
