// start() never waits forever on a consumer that will not join its group.
import { EventEmitter } from 'node:events';
import type { Consumer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { groupJoined, startAndJoin } from '../src/group-join.ts';

/** The two events groupJoined listens to, as KafkaJS emits them (`on` returns the remover). */
function consumerEvents(): { consumer: Consumer; emit(event: string, payload: unknown): void; disconnects: () => number } {
  const emitter = new EventEmitter();
  let disconnects = 0;
  const consumer = {
    events: { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' },
    on: (event: string, listener: (e: unknown) => void) => {
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    },
    disconnect: async () => {
      disconnects++;
    },
  } as unknown as Consumer;
  return { consumer, emit: (event, payload) => emitter.emit(event, { payload }), disconnects: () => disconnects };
}

describe('groupJoined', () => {
  it('resolves on the join, after a crash KafkaJS restarts from', async () => {
    const { consumer, emit } = consumerEvents();
    const joined = groupJoined(consumer, 'g', 5_000);
    emit('consumer.crash', { error: new Error('coordinator moved'), restart: true });
    emit('consumer.group_join', {});
    await expect(joined).resolves.toBeUndefined();
  });

  it('fails with GROUP_JOIN_FAILED when the consumer stops before joining', async () => {
    const { consumer, emit } = consumerEvents();
    const joined = groupJoined(consumer, 'g', 5_000);
    emit('consumer.crash', { error: new Error('not authorized'), restart: false });
    await expect(joined).rejects.toMatchObject({ code: 'GROUP_JOIN_FAILED', retriable: true, message: expect.stringContaining('not authorized') });
  });

  it('fails with GROUP_JOIN_FAILED when the join takes too long', async () => {
    const { consumer } = consumerEvents();
    await expect(groupJoined(consumer, 'slow-group', 50)).rejects.toMatchObject({ code: 'GROUP_JOIN_FAILED', message: expect.stringContaining('slow-group') });
  });
});

describe('startAndJoin', () => {
  it('resolves when the set-up is done and the member has joined', async () => {
    const { consumer, emit } = consumerEvents();
    const started = startAndJoin(consumer, 'g', async () => {
      emit('consumer.group_join', {});
    }, 5_000);
    await expect(started).resolves.toBeUndefined();
  });

  it('a set-up step that never settles fails the start at the join deadline', async () => {
    const { consumer } = consumerEvents();
    const started = startAndJoin(consumer, 'stuck-group', () => new Promise<void>(() => {}), 50);
    await expect(started).rejects.toMatchObject({ code: 'GROUP_JOIN_FAILED', retriable: true, message: expect.stringContaining('stuck-group') });
  });

  it('a set-up step that fails is the error reported, not the join, and the consumer is disconnected', async () => {
    const { consumer, disconnects } = consumerEvents();
    const started = startAndJoin(consumer, 'g', async () => {
      throw new Error('broker unreachable');
    }, 5_000);
    await expect(started).rejects.toThrow('broker unreachable');
    await new Promise((r) => setImmediate(r));
    expect(disconnects()).toBe(1);
  });

  it('a set-up that finishes after the deadline disconnects the member it made', async () => {
    const { consumer, disconnects } = consumerEvents();
    let finish!: () => void;
    const started = startAndJoin(consumer, 'late-group', () => new Promise<void>((r) => (finish = r)), 50);
    await expect(started).rejects.toMatchObject({ code: 'GROUP_JOIN_FAILED' });
    expect(disconnects()).toBe(0);
    finish();
    await new Promise((r) => setImmediate(r));
    expect(disconnects()).toBe(1);
  });
});
