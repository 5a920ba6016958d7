export { AgentClient, DecisionTimeout, DecisionMismatch, Overloaded, type AgentClientOptions } from './agent.ts';
export { ExecutorRuntime, type ExecutorOptions, type ExecutionHandler, type HandlerResult } from './executor.ts';
export { withCredentials, type AgentCredentials } from './identity.ts';
export { WarrantGuard, beginClaimStore, CLAIM_FUNCTIONS, claimKeys, type WarrantGuardOptions, type KeySource, type Refusal } from './guard.ts';
export { WarrantKeyring } from './keyring.ts';
export { credentialsFromEnv, CredentialsError } from '@intentgate/bus';
