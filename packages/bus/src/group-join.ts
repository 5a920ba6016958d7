import type { Consumer } from 'kafkajs';
import { BusError, describe } from './errors.ts';

/** How long a consumer may take to join its group before start() fails rather than wait on. */
export const GROUP_JOIN_TIMEOUT_MS = 120_000;

/**
 * Resolves when the consumer has joined its group. Rejects with GROUP_JOIN_FAILED when KafkaJS
 * gives up on the consumer (a crash it does not restart from) or the join takes longer than
 * `timeoutMs`, so a start never waits forever on a member that will not join. Subscribe before
 * calling run().
 */
export function groupJoined(consumer: Consumer, groupId: string, timeoutMs = GROUP_JOIN_TIMEOUT_MS): Promise<void> {
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
    offs.push(consumer.on(consumer.events.GROUP_JOIN, () => settle(resolve)));
    offs.push(consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart) return; // KafkaJS restarts the consumer and joins again
      settle(() => reject(new BusError('GROUP_JOIN_FAILED', `consumer group ${groupId}: the consumer stopped before joining: ${describe(event.payload.error)}`, {
        retriable: true, hint: 'Check that the broker and its group coordinator are reachable, then start again.', cause: event.payload.error,
      })));
    }));
  });
}

/**
 * Runs a consumer's set-up (connect, subscribe, run) and resolves once the member has joined.
 * The join deadline bounds the set-up too: a step that never settles (a request nobody answers)
 * fails the start with GROUP_JOIN_FAILED instead of holding it. A set-up step that fails first
 * is the error reported. Either way the consumer is disconnected once its set-up settles.
 */
export async function startAndJoin(consumer: Consumer, groupId: string, setUp: () => Promise<void>, timeoutMs = GROUP_JOIN_TIMEOUT_MS): Promise<void> {
  const joined = groupJoined(consumer, groupId, timeoutMs);
  const done = setUp();
  joined.catch(() => {});
  done.catch(() => {});
  try {
    await Promise.all([done, joined]);
  } catch (err) {
    // A set-up still running past the deadline must not leave a member behind once it connects.
    void done.then(() => consumer.disconnect(), () => consumer.disconnect()).catch(() => {});
    throw err;
  }
}
