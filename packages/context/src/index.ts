export { ContextStore, ContextUnavailable, type ContextSnapshot, type BatchContext, type ContextStoreOptions, type Sensitivity } from './store.ts';
