import type { Consumer } from 'kafkajs';
import { BusError, describe, type Refuse } from './errors.ts';

/** What is joining: turns a broker refusal into NOT_AUTHORIZED / AUTHENTICATION_FAILED naming it. */
export interface JoinAccess {
  refuse: Refuse;
  topics: readonly string[];
  transactionalId?: string;
}

async function refusal(err: unknown, groupId: string, access: JoinAccess | undefined): Promise<BusError | null> {
  if (access === undefined) return null;
  return access.refuse(err, { action: 'read', group: groupId, topics: access.topics, ...(access.transactionalId ? { transactionalId: access.transactionalId } : {}) }).catch(() => null);
}

function assignedPartitions(payload: unknown): number {
  const assignment = (payload as { memberAssignment?: Record<string, number[]> } | undefined)?.memberAssignment ?? {};
  return Object.values(assignment).reduce((n, partitions) => n + partitions.length, 0);
}

/** How long a consumer may take to join its group before start() fails rather than wait on. */
export const GROUP_JOIN_TIMEOUT_MS = 120_000;

/**
 * Resolves when the consumer has joined its group. Rejects with GROUP_JOIN_FAILED when KafkaJS
 * gives up on the consumer (a crash it does not restart from) or the join takes longer than
 * `timeoutMs`, so a start never waits forever on a member that will not join. Subscribe before
 * calling run().
 */
export function groupJoined(consumer: Consumer, groupId: string, timeoutMs = GROUP_JOIN_TIMEOUT_MS, access?: JoinAccess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const offs: Array<() => void> = [];
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      offs.forEach((off) => off());
      fn();
    };
    const timer = setTimeout(() => settle(() => reject(new BusError('GROUP_JOIN_FAILED', `consumer group ${groupId} not joined within ${timeoutMs} ms`, {
      retriable: true, hint: 'Check that the broker and its group coordinator are reachable, then start again.',
    }))), timeoutMs);
    timer.unref();
    let joined = false;
    offs.push(consumer.on(consumer.events.GROUP_JOIN, (event) => {
      // With access given, a member with partitions is started once its first fetch came back:
      // a topic it may describe but not read (READ missing) is refused at the fetch, after the join.
      if (access === undefined || assignedPartitions(event.payload) === 0) settle(resolve);
      else joined = true;
    }));
    if (access !== undefined) offs.push(consumer.on(consumer.events.FETCH, () => {
      if (joined) settle(resolve);
    }));
    offs.push(consumer.on(consumer.events.CRASH, (event) => void (async () => {
      const refused = await refusal(event.payload.error, groupId, access);
      if (refused) return settle(() => reject(refused)); // KafkaJS does not restart from these; never wait on them
      if (event.payload.restart) return; // KafkaJS restarts the consumer and joins again
      settle(() => reject(new BusError('GROUP_JOIN_FAILED', `consumer group ${groupId}: the consumer stopped before joining: ${describe(event.payload.error)}`, {
        retriable: true, hint: 'Check that the broker and its group coordinator are reachable, then start again.', cause: event.payload.error,
      })));
    })()));
  });
}

/**
 * Runs a consumer's set-up (connect, subscribe, run) and resolves once the member has joined.
 * The join deadline bounds the set-up too: a step that never settles (a request nobody answers)
 * fails the start with GROUP_JOIN_FAILED instead of holding it. A set-up step that fails first
 * is the error reported. Either way the consumer is disconnected once its set-up settles.
 */
export async function startAndJoin(consumer: Consumer, groupId: string, setUp: () => Promise<void>, timeoutMs = GROUP_JOIN_TIMEOUT_MS, access?: JoinAccess): Promise<void> {
  const joined = groupJoined(consumer, groupId, timeoutMs, access);
  const done = setUp();
  joined.catch(() => {});
  done.catch(() => {});
  try {
    await Promise.all([done, joined]);
  } catch (err) {
    // A set-up still running past the deadline must not leave a member behind once it connects.
    void done.then(() => consumer.disconnect(), () => consumer.disconnect()).catch(() => {});
    throw (await refusal(err, groupId, access)) ?? err;
  }
}
