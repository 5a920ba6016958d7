export { ContextStore, ContextUnavailable, type ContextSnapshot, type AgentFacts, type BatchContext, type ContextStoreOptions, type Sensitivity } from './store.ts';
