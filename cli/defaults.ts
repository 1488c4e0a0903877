/** Defaults the CLI names in its help, kept apart so `qgjob --help` loads nothing heavy. */
export const DEFAULT_COORDINATOR_URL = 'http://127.0.0.1:8080';
