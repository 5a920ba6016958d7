// A consumer with records behind it that makes no progress is visible: its health says stalled
// (CONSUMER_STALLED), /readyz answers 503 with that code, the metrics show it, and it recovers.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { consumerHealthMetrics, probeAnswer } from '@intentgate/bus';
import { exampleOf } from '@intentgate/contracts/examples';
import { eventually, testBus, uniqueGroup } from '@intentgate/test';

const bus = testBus();

afterAll(async () => {
  await bus.close();
});

describe('a stalled consumer', { timeout: 180_000 }, () => {
  it('is reported stalled while its handler is stuck with lag behind it, and ready again once it moves', async () => {
    const marker = randomUUID();
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const handled: string[] = [];
    const consumer = bus.consumer<'ExecutionResult'>({
      groupId: uniqueGroup('stall'), topics: ['executions'],
      health: { stallAfterMs: 2_000, lagCheckEveryMs: 250 },
      handle: async (records) => {
        if (records.some((r) => r.value.executor === marker)) await stuck;
        handled.push(...records.map((r) => r.value.executor));
      },
    });
    await consumer.start();
    expect(consumer.health()).toMatchObject({ state: 'running', stalled: false, ready: true });
    const producer = bus.producer();
    await producer.sendMany(Array.from({ length: 3 }, () => ({ topic: 'executions', key: marker, value: { ...exampleOf('ExecutionResult'), executor: marker } })));

    await eventually(() => consumer.health().stalled, 'the consumer to be reported stalled', 60_000);
    const stalled = consumer.health();
    expect(stalled.lag).toBeGreaterThan(0);
    expect(stalled.msSinceProgress).toBeGreaterThan(2_000);
    expect(stalled.problem?.code).toBe('CONSUMER_STALLED');
    const answer = probeAnswer('ready', bus.consumerHealth());
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ code: 'CONSUMER_STALLED' });
    expect(probeAnswer('live', bus.consumerHealth()).status).toBe(200); // stalled is not dead: no restart demanded
    expect(consumerHealthMetrics(bus.consumerHealth(), 'test')).toMatch(new RegExp(`intentgate_consumer_stalled\\{service="test",group="${consumer.groupId}"\\} 1`));

    release();
    await eventually(() => handled.includes(marker) && consumer.health().ready && consumer.health().lag === 0, 'the consumer to be ready and caught up', 60_000);
    expect(probeAnswer('ready', bus.consumerHealth())).toMatchObject({ status: 200 });
    await consumer.stop();
  });
});
