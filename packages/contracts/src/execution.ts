import { z } from 'zod';
import { Domain, ReasonCode, Timestamp, Uuid } from './primitives.ts';

export const ExecutionResult = z
  .strictObject({
    intent_id: Uuid,
    decision_id: Uuid,
    domain: Domain,
    status: z.enum(['executed', 'refused', 'failed']),
    reason: z.strictObject({ code: ReasonCode, message: z.string().max(2048) }).optional(),
    executor: z.string().min(1).max(256),
    finished_at: Timestamp,
  })
  .refine((r) => r.status === 'executed' || r.reason !== undefined, {
    message: 'a refused or failed execution says why',
    path: ['reason'],
  });
export type ExecutionResult = z.infer<typeof ExecutionResult>;
