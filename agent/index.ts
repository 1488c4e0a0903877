/** The agent room's door: start an agent next to devices. */
export { startAgent, AgentProcess } from './agent.js';
export type { Agent, AgentOptions, SlotConfig } from './options.js';
