import { describe, expect, it } from 'vitest';
import type { ProcessedDetail } from '../../lambda/contract';
import { listFailures, replayFailures } from '../../lambda/core/consumer-failures';
import { consumerProgress, publishIfProcessed, recordTotals } from '../../lambda/core/consumer-progress';
import { TransientError, UncertainOutcomeError, ValidationError } from '../../lambda/core/errors';
import type { FailedRecord, ProgressCounts, ProgressPorts, ProgressStore } from '../../lambda/core/ports';
import type { OutboundRecord } from '../../lambda/core/record-format';
import { FakeClock, fakeWorld, silentLog } from '../fakes';

/** The counts and the claim of one consumer and scan, as the store keeps them. */
class OneScanStore implements Pick<ProgressStore, 'read' | 'setTotal' | 'claimEvent' | 'settleEvent'> {
  counts: ProgressCounts = {
    total: null,
    processed: 0,
    failed: 0,
    firstAt: 1_000,
    lastAt: 61_000,
    event: null,
  };
  async read() {
    return this.counts;
  }
  async setTotal(_c: string, _s: string, total: number) {
    if (this.counts.total === null) this.counts = { ...this.counts, total };
  }
  async claimEvent(_c: string, _s: string, holder: string, at: number) {
    if (this.counts.event !== null) return this.counts.event.holder === holder;
    this.counts = { ...this.counts, event: { holder, at } };
    return true;
  }
  async settleEvent(_c: string, _s: string, holder: string, outcome: 'sent' | 'unknown' | null) {
    if (this.counts.event?.holder !== holder) return;
    this.counts = { ...this.counts, event: outcome === null ? null : { ...this.counts.event, outcome } };
  }
}

function world(answers: (Error | null)[] = []) {
  const store = new OneScanStore();
  const published: ProcessedDetail[] = [];
  const ports: ProgressPorts = {
    store: store as unknown as ProgressStore,
    events: {
      async publishProcessed(detail) {
        const answer = answers.shift() ?? null;
        if (answer instanceof UncertainOutcomeError) published.push(detail);
        if (answer !== null) throw answer;
        published.push(detail);
      },
    },
    clock: new FakeClock(100_000),
    log: silentLog,
  };
  return { store, published, ports };
}

describe('publishIfProcessed', () => {
  it('publishes once every record is processed or failed, with the counts and the time it took', async () => {
    const { store, published, ports } = world();
    store.counts = { ...store.counts, total: 10, processed: 9, failed: 0 };
    expect(await publishIfProcessed('indexer', 'scan-1', 'r1', ports)).toBe(false);

    store.counts = { ...store.counts, processed: 8, failed: 2 };
    expect(await publishIfProcessed('indexer', 'scan-1', 'r1', ports)).toBe(true);
    expect(await publishIfProcessed('indexer', 'scan-1', 'r2', ports)).toBe(false);

    expect(published).toEqual([
      {
        scanId: 'scan-1',
        consumer: 'indexer',
        total: 10,
        processed: 8,
        failed: 2,
        firstProcessedAt: '1970-01-01T00:00:01.000Z',
        lastProcessedAt: '1970-01-01T00:01:01.000Z',
        durationSeconds: 60,
      },
    ]);
    expect(store.counts.event).toMatchObject({ holder: 'r1', outcome: 'sent' });
  });

  it('publishes nothing before the total is known, however many records are processed', async () => {
    const { store, published, ports } = world();
    store.counts = { ...store.counts, processed: 500 };
    expect(await publishIfProcessed('indexer', 'scan-1', 'r1', ports)).toBe(false);
    expect(published).toEqual([]);
  });

  it('gives the right back when EventBridge refused, so that the next caller publishes', async () => {
    const { store, published, ports } = world([new TransientError('throttled')]);
    store.counts = { ...store.counts, total: 3, processed: 3 };

    await expect(publishIfProcessed('indexer', 'scan-1', 'r1', ports)).rejects.toThrow('throttled');
    expect(store.counts.event).toBeNull();
    expect(await publishIfProcessed('indexer', 'scan-1', 'r2', ports)).toBe(true);
    expect(published).toHaveLength(1);
  });

  it('records "unknown" and never sends again when the publish may have happened', async () => {
    const { store, published, ports } = world([new UncertainOutcomeError('no answer')]);
    store.counts = { ...store.counts, total: 3, processed: 3 };

    expect(await publishIfProcessed('indexer', 'scan-1', 'r1', ports)).toBe(true);
    expect(await publishIfProcessed('indexer', 'scan-1', 'r2', ports)).toBe(false);
    expect(published).toHaveLength(1);
    expect(store.counts.event).toMatchObject({ outcome: 'unknown' });
  });
});

describe('recordTotals', () => {
  it("sets each consumer's total and publishes for one already done; a failing consumer is reported, not thrown", async () => {
    const { store, published, ports } = world();
    store.counts = { ...store.counts, processed: 4 };
    const broken = { ...store, read: async () => Promise.reject(new Error('denied')) };
    const stream = { readRecord: async () => null };
    const tracked = { store: ports.store, events: ports.events, consumers: ['indexer'], stream };

    expect(await recordTotals('scan-1', 4, 'r1', tracked, ports)).toEqual([]);
    expect(store.counts.total).toBe(4);
    expect(published).toHaveLength(1);
    expect(
      await recordTotals('scan-1', 4, 'r1', { ...tracked, store: broken as unknown as ProgressStore }, ports),
    ).toEqual(['indexer']);
  });
});

describe('consumerProgress', () => {
  const counts = (over: Partial<ProgressCounts>): ProgressCounts => ({
    total: null,
    processed: 0,
    failed: 0,
    firstAt: null,
    lastAt: null,
    event: null,
    ...over,
  });

  it('measures a running scan against the records put so far', () => {
    expect(
      consumerProgress('indexer', counts({ processed: 300, firstAt: 0, lastAt: 10_000 }), 1000, 0),
    ).toMatchObject({
      state: 'PROCESSING',
      percent: 30,
      lag: 700,
      recordsPerSecond: 30,
      processedEvent: null,
    });
    expect(consumerProgress('indexer', counts({}), 0, 0)).toMatchObject({
      state: 'WAITING',
      percent: null,
      lag: 0,
    });
  });

  it('says PROCESSED or FAILED once processed + failed reach the total', () => {
    expect(consumerProgress('indexer', counts({ total: 10, processed: 10 }), 10, 0).state).toBe('PROCESSED');
    expect(consumerProgress('indexer', counts({ total: 10, processed: 9, failed: 1 }), 10, 0)).toMatchObject({
      state: 'FAILED',
      percent: 100,
      lag: 0,
    });
  });

  it('reads a claim abandoned for five minutes as an event that may have been published', () => {
    const claimed = counts({ total: 1, processed: 1, event: { holder: 'r1', at: 0 } });
    expect(consumerProgress('indexer', claimed, 1, 60_000).processedEvent).toBeNull();
    expect(consumerProgress('indexer', claimed, 1, 6 * 60_000).processedEvent).toBe('unknown');
  });
});

describe('failures and replay', () => {
  function tracked(failed: FailedRecord[], onStream: Map<string, OutboundRecord>) {
    const world = fakeWorld([]);
    const progress = {
      store: {
        listFailed: async (_c: string, _s: string, limit: number) => failed.slice(0, limit),
      } as unknown as ProgressStore,
      events: { publishProcessed: async () => {} },
      consumers: ['indexer'],
      stream: {
        readRecord: async (shardId: string, seq: string) => onStream.get(`${shardId}/${seq}`) ?? null,
      },
    };
    return { world, ports: { ...world.ports, progress } };
  }
  const failure = (n: number, onStream = true): FailedRecord => ({
    eventID: `e${n}`,
    keys: { pk: { S: `item-${n}` } },
    failedAt: n,
    ...(onStream ? { shardId: 'shard-0', sequenceNumber: String(100 + n) } : {}),
  });

  it('lists a consumer’s failed records of a scan, saying when there are more than the limit', async () => {
    const { ports } = tracked([failure(1), failure(2), failure(3)], new Map());
    const answer = await listFailures({ consumer: 'indexer', scanId: 'scan-1', limit: 2 }, ports);
    expect(answer).toMatchObject({ scanId: 'scan-1', consumer: 'indexer', more: true });
    expect(answer.records).toEqual([
      {
        eventID: 'e1',
        keys: { pk: { S: 'item-1' } },
        failedAt: '1970-01-01T00:00:00.001Z',
        shardId: 'shard-0',
        sequenceNumber: '101',
      },
      {
        eventID: 'e2',
        keys: { pk: { S: 'item-2' } },
        failedAt: '1970-01-01T00:00:00.002Z',
        shardId: 'shard-0',
        sequenceNumber: '102',
      },
    ]);
  });

  it('puts the records the stream still keeps back as they were, and counts the others as gone', async () => {
    const kept = { data: new Uint8Array([1, 2]), partitionKey: 'abc' };
    const { world, ports } = tracked(
      [failure(1), failure(2), failure(3, false)],
      new Map([['shard-0/101', kept]]),
    );
    expect(await replayFailures({ consumer: 'indexer', scanId: 'scan-1', limit: null }, ports)).toEqual({
      scanId: 'scan-1',
      consumer: 'indexer',
      replayed: 1,
      gone: 2,
      more: false,
    });
    expect(world.sink.records).toEqual([kept]);
  });

  it('refuses a consumer that is not tracked, naming the tracked ones, before reading anything', async () => {
    const { ports } = tracked([], new Map());
    await expect(listFailures({ consumer: 'mailer', scanId: null, limit: null }, ports)).rejects.toThrow(
      'Invalid consumer: expected one of "indexer", received "mailer".',
    );
    await expect(
      replayFailures({ consumer: 'mailer', scanId: null, limit: null }, { ...fakeWorld([]).ports }),
    ).rejects.toThrow(ValidationError);
  });
});
