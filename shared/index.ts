/** The wire contract shared by coordinator, agent and CLI. Nothing else lives here. */
export * from './errors.js';
export * from './job.js';
export * from './protocol.js';
export * from './api.js';
export * from './build.js';
export * from './run.js';
export * from './dashboard.js';
export { VERSION } from './version.js';
