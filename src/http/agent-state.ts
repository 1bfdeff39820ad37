export type { AgentState, EdgeHealthState } from '../status/agent-state.js';
