export { ContextStore, CONTEXT_FUNCTIONS, ContextUnavailable, type ContextSnapshot, type AgentFacts, type BatchContext, type ContextStoreOptions, type Sensitivity } from './store.ts';
