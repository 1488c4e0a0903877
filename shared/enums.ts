/** The wire contract's enumerations, without zod, so a fast path (the CLI's --help) can name them cheaply. */

export const TARGETS = ['emulator', 'device', 'browserstack'] as const;

export const PLATFORMS = ['android', 'ios'] as const;

export const BUILD_MODES = ['auto', 'registry', 'agent'] as const;

export const JOB_STATES = ['queued', 'assigned', 'running', 'passed', 'failed', 'error', 'cancelled', 'timed_out'] as const;
