export { DecisionService, DECISION_GROUP, type DecisionServiceOptions } from './service.ts';
export { publishAndActivate, type PublishOptions } from './policy-admin.ts';
export { decide, denyDeadLetter, policyInputOf, type DecideSettings, type PolicyInput, type Decided } from './decide.ts';
export { configFromEnv, ConfigError } from './config.ts';
export { verifyIntentIdentity, type IdentitySettings, type VerifiedIdentity } from './identity.ts';
export { DECISION_NODE_FLAGS, DECISION_ENV, missingProcessSettings } from './process-settings.ts';
export { ContextFeeder, publishRegistration, readRegistry, registrationRefusal, RegistryUnavailable, type ContextFeederOptions } from './registry.ts';
