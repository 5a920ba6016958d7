import type { z } from 'zod';
import { Intent } from './intent.ts';
import { ApprovedIntent, Decision, WarrantClaims, WarrantKey } from './decision.ts';
import { ApprovalRequest, ApprovalResponse } from './approval.ts';
import { ExecutionResult } from './execution.ts';
import { Checkpoint, DeadLetter, PolicyActivation, PolicyBundle, Receipt, Revocation } from './evidence.ts';
import { AgentRegistration, ResourceLabel } from './registry.ts';

/** Every message of the wire contract, by name. WarrantClaims travels inside a JWS, not on a topic. */
export const MESSAGES = {
  Intent,
  Decision,
  WarrantClaims,
  WarrantKey,
  ApprovedIntent,
  ApprovalRequest,
  ApprovalResponse,
  ExecutionResult,
  Receipt,
  Checkpoint,
  PolicyBundle,
  PolicyActivation,
  Revocation,
  AgentRegistration,
  ResourceLabel,
  DeadLetter,
} as const satisfies Record<string, z.ZodType>;

export type MessageName = keyof typeof MESSAGES;
export type Message<N extends MessageName> = z.infer<(typeof MESSAGES)[N]>;
export const MESSAGE_NAMES = Object.keys(MESSAGES) as MessageName[];
