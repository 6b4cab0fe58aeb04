import { describe, expect, it } from 'vitest';
import type { SegmentEvent } from '../../lambda/contract';
import { DeadlineError, FatalScanError, TransientError } from '../../lambda/core/errors';
import { startScan } from '../../lambda/core/scan-control';
import { firstCheckpoint } from '../../lambda/core/scan-state';
import { ChainPolicy, runSegment, type SegmentOutcome } from '../../lambda/core/segment-runner';
import { controlConfig, type FakeWorld, fakeWorld, numberedItems, runConfig, startOptions } from '../fakes';

const _HANDOFF_MS = 15_000;

const config = runConfig;

async function started(world: FakeWorld): Promise<SegmentEvent> {
  await startScan(startOptions(), controlConfig, world.ports);
  const event = world.continuation.events.shift();
  if (!event) throw new Error('start launched no segment');
  return event;
}

describe('runSegment', () => {
  it('writes every item once and completes the scan in one invocation', async () => {
    const world = fakeWorld(numberedItems(95), { pageSize: 10 });
    const outcome = await runSegment(await started(world), config(world), world.ports);

    expect(outcome).toEqual({ kind: 'done', scanCompleted: true, itemsScanned: 95 });
    expect(world.sink.itemIds()).toEqual(Array.from({ length: 95 }, (_, i) => i));
    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(world.store.scan?.summary).toMatchObject({ itemsScanned: 95, recordsPut: 95, handoffs: 0 });
    expect(world.store.segments.size).toBe(0);
  });

  it('hands off with the next generation once less than the threshold remains', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 10_000 });
    const event = await started(world);
    const outcome = await runSegment(
      event,
      config(world, { deadline: world.clock.now() + 100_000 }),
      world.ports,
    );

    // Pages of 10 s with the next one read ahead: 8 pages written when 85 s are used.
    expect(outcome).toEqual({ kind: 'handed-off', generation: 2, itemsScanned: 80 });
    expect(world.continuation.events).toEqual([{ ...event, generation: 2, from: expect.any(String) }]);
    const checkpoint = await world.store.loadSegment(0);
    expect(checkpoint).toMatchObject({ generation: 2, owner: null, itemsScanned: 80, handoffs: 1 });
    expect(checkpoint?.position).toEqual({ pk: { N: '79' } });
  });

  it('delivers every item exactly once across a chain of many hand-offs', async () => {
    const world = fakeWorld(numberedItems(500), { pageSize: 7, msPerPage: 10_000 });
    const outcomes = [];
    let event: SegmentEvent | undefined = await started(world);
    while (event) {
      outcomes.push(
        await runSegment(event, config(world, { deadline: world.clock.now() + 60_000 }), world.ports),
      );
      event = world.continuation.events.shift();
    }

    expect(outcomes.filter((o) => o.kind === 'handed-off').length).toBeGreaterThanOrEqual(5);
    expect(outcomes.at(-1)).toMatchObject({ kind: 'done', scanCompleted: true, itemsScanned: 500 });
    expect(world.sink.itemIds()).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(world.store.scan?.summary?.handoffs).toBe(outcomes.length - 1);
  });

  it("sizes its second page by its first page's records when the chain has written none before", async () => {
    // Records of about 10 KB: at the chain's share of 4 shards, 10 s of writing is about 4,000.
    const items = numberedItems(30).map((item) => ({ ...item, body: { S: 'x'.repeat(10_000) } }));
    const world = fakeWorld(items, { pageSize: 10 });
    await runSegment(await started(world), config(world), world.ports);

    const [, first, second] = world.table.requests;
    // Before any record, small ones are assumed: more than a page holds, so no limit.
    expect(first?.limit).toBeUndefined();
    expect(second?.limit).toBeGreaterThan(3000);
    expect(second?.limit).toBeLessThan(5000);
  });

  describe('a page the deadline cuts short', () => {
    /** The chain's first page is cut after its first 12 records were accepted. */
    function cutFirstPage(world: FakeWorld): void {
      const put = world.sink.putRecords.bind(world.sink);
      let calls = 0;
      world.sink.putRecords = async (records, deadline, pace, options) => {
        if (++calls > 1) return put(records, deadline, pace, options);
        await put(records.slice(0, 12), deadline, pace, options);
        const bytes = records
          .slice(0, 12)
          .reduce((sum, r) => sum + r.data.byteLength + r.partitionKey.length, 0);
        throw new DeadlineError(
          '18 of 30 records still failing after 2 attempts (ProvisionedThroughputExceededException); out of time.',
          2,
          { records: 12, bytes, resent: 18 },
          { records: 12, bytes },
        );
      };
    }

    async function runChain(world: FakeWorld): Promise<SegmentOutcome[]> {
      const outcomes: SegmentOutcome[] = [];
      let event: SegmentEvent | undefined = await started(world);
      while (event && outcomes.length < 10) {
        outcomes.push(await runSegment(event, config(world), world.ports));
        event = world.continuation.events.shift();
      }
      return outcomes;
    }

    it('resumes after its accepted records, so none is sent twice', async () => {
      const world = fakeWorld(numberedItems(50), { pageSize: 30 });
      cutFirstPage(world);

      const outcomes = await runChain(world);

      expect(outcomes.map((o) => o.kind)).toEqual(['handed-off', 'done']);
      // The next invocation scans on from the last accepted item's key.
      expect(world.table.requests.at(-2)?.exclusiveStartKey).toEqual({ pk: { N: '11' } });
      expect(world.sink.itemIds()).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(world.store.scan?.summary).toMatchObject({ itemsScanned: 50, recordsPut: 50, handoffs: 1 });
    });

    it('is sent again whole when a filter dropped some of its items, so the counts stay exact', async () => {
      const world = fakeWorld(numberedItems(50), { pageSize: 30 });
      world.table.filter = (item) =>
        'N' in (item.pk ?? {}) && Number((item.pk as { N: string }).N) % 10 !== 9;
      cutFirstPage(world);

      const outcomes = await runChain(world);

      expect(outcomes.map((o) => o.kind)).toEqual(['handed-off', 'done']);
      const ids = world.sink.itemIds();
      // The 12 accepted before the deadline are sent again with the rest of their page.
      expect(ids.slice(0, 12)).toEqual(ids.slice(12, 24));
      expect(new Set(ids).size).toBe(45);
      expect(world.store.scan?.summary).toMatchObject({ itemsScanned: 50, recordsPut: 45 });
    });
  });

  it("checkpoints on the time cadence, not every page, and soon after the claim at a scan's start", async () => {
    const world = fakeWorld(numberedItems(500), { pageSize: 10, msPerPage: 1_000 });
    const event = await started(world);
    const startedAt = world.clock.now();
    await runSegment(event, config(world), world.ports);
    // 50 pages of 1 s. The claim once the first page is in, then gaps of at least 1, 2, 4 and 8 s
    // (a checkpoint goes when a page ends), then the 10 s interval, and the final DONE.
    const at = world.store.segmentWrites().map((write) => (write.updatedAt - startedAt) / 1000);
    expect(at).toEqual([3, 5, 7, 11, 19, 29, 39, 49, 50]);

    // A later invocation of the chain (a hand-off's, after its checkpoint) checkpoints on the
    // interval alone.
    const later = fakeWorld(numberedItems(300), { pageSize: 10, msPerPage: 1_000 });
    const first = await started(later);
    const scan = later.store.scan;
    if (scan === null) throw new Error('no scan');
    await later.store.saveSegment(firstCheckpoint(scan, first.segment, 1, later.clock.now()));
    later.store.writes.length = 0;
    await runSegment({ ...first, generation: 2 }, config(later), later.ports);
    const gaps = later.store
      .segmentWrites()
      .map((write, i, all) => write.updatedAt - (all[i - 1]?.updatedAt ?? write.updatedAt));
    expect(gaps.slice(1, -1)).toEqual([10_000, 10_000]);
  });

  it('never saves a position whose records were not accepted', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10 });
    let pages = 0;
    world.sink.beforePut = () => {
      if (++pages === 4) throw new DeadlineError('out of time', 5);
    };
    const outcome = await runSegment(await started(world), config(world), world.ports);

    expect(outcome.kind).toBe('handed-off');
    const checkpoint = await world.store.loadSegment(0);
    // Pages 1-3 (items 0-29) were accepted; page 4 was not, so the checkpoint stays after item 29.
    expect(checkpoint?.position).toEqual({ pk: { N: '29' } });
    expect(checkpoint?.itemsScanned).toBe(30);
    for (const write of world.store.segmentWrites()) {
      const position = write.position?.pk;
      const upTo = position && 'N' in position ? Number(position.N) : -1;
      expect(world.sink.itemIds().filter((id) => id <= upTo).length).toBe(upTo + 1);
    }
  });

  it('skips empty pages instead of sending them', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    const original = world.table.readPage.bind(world.table);
    world.table.readPage = async (request) => {
      const page = await original(request);
      return request.exclusiveStartKey === null ? { ...page, items: [] } : page;
    };
    let puts = 0;
    world.sink.beforePut = () => {
      puts++;
    };
    await runSegment(await started(world), config(world), world.ports);
    expect(puts).toBe(2);
    expect(world.sink.itemIds()).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
  });

  it('exits without writing when its generation is older than the checkpoint', async () => {
    const world = fakeWorld(numberedItems(50), { pageSize: 10, msPerPage: 1 });
    const event = await started(world);
    await runSegment(event, config(world, { deadline: world.clock.now() + 15_001 }), world.ports);
    world.continuation.events.length = 0;
    await runSegment(
      { ...event, generation: 2 },
      config(world, { deadline: world.clock.now() + 15_001 }),
      world.ports,
    );
    world.continuation.events.length = 0;
    const writesBefore = world.store.writes.length;
    const recordsBefore = world.sink.records.length;

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome).toEqual({ kind: 'stale', reason: 'generation 1 is older than 3' });
    expect(world.store.writes.length).toBe(writesBefore);
    expect(world.sink.records.length).toBe(recordsBefore);
    expect(world.continuation.events).toEqual([]);
  });

  it('re-sends a hand-off that no invocation has claimed', async () => {
    const world = fakeWorld(numberedItems(50), { pageSize: 10, msPerPage: 1 });
    const event = await started(world);
    await runSegment(event, config(world, { deadline: world.clock.now() + 15_001 }), world.ports);
    world.continuation.events.length = 0;

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome.kind).toBe('stale');
    expect(world.continuation.events).toEqual([{ ...event, generation: 2, from: expect.any(String) }]);
  });

  it('stops at its next checkpoint when a duplicate invocation claims the chain after it', async () => {
    const world = fakeWorld(numberedItems(300), { pageSize: 10, msPerPage: 1000 });
    const event = await started(world);
    world.store.afterSegmentWrite = (checkpoint) => {
      if (checkpoint.owner !== null && checkpoint.itemsScanned === 10) {
        world.store.afterSegmentWrite = undefined;
        void world.store.saveSegment({ ...checkpoint, owner: 'duplicate' });
      }
    };

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome).toEqual({ kind: 'stale', reason: 'generation 1 was superseded' });
    // The first page's checkpoint claimed the chain; the next one, 10 s later, found the duplicate.
    expect(world.sink.records.length).toBeLessThanOrEqual(10 + 10 * 10 + 10);
    expect(world.sink.records.length).toBeLessThan(300);
    expect((await world.store.loadSegment(0))?.owner).toBe('duplicate');
  });

  it('exits when the event belongs to a scan that is no longer current', async () => {
    const world = fakeWorld(numberedItems(10));
    const event = await started(world);
    const outcome = await runSegment({ ...event, scanId: 'scan-0' }, config(world), world.ports);
    expect(outcome.kind).toBe('stale');
    expect(world.sink.records).toHaveLength(0);
  });

  it('marks the segment and the scan FAILED on a fatal error, with the message', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    const event = await started(world);
    world.table.failWith = new FatalScanError('Scan on Orders failed: AccessDeniedException: not allowed');

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome).toEqual({
      kind: 'failed',
      error: 'Scan on Orders failed: AccessDeniedException: not allowed',
    });
    expect(world.store.scan).toMatchObject({
      state: 'FAILED',
      error: outcome.kind === 'failed' ? outcome.error : '',
    });
    expect((await world.store.loadSegment(0))?.state).toBe('FAILED');
  });

  it('rethrows a transient error and leaves the checkpoint where it was', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    const event = await started(world);
    world.table.failWith = new TransientError('Scan throttled');

    await expect(runSegment(event, config(world), world.ports)).rejects.toThrow('Scan throttled');
    expect(world.store.scan?.state).toBe('RUNNING');
    expect((await world.store.loadSegment(0))?.position ?? null).toBeNull();
  });

  it('fails the scan when an item is too large for one Kinesis record', async () => {
    const huge = [{ pk: { N: '0' }, blob: { S: 'x'.repeat(1024 * 1024) } }];
    const world = fakeWorld(huge);
    const outcome = await runSegment(await started(world), config(world), world.ports);
    expect(outcome.kind).toBe('failed');
    expect(world.store.scan?.error).toMatch(/over the Kinesis record limit of 1048576 bytes/);
    expect(world.sink.records).toHaveLength(0);
  });

  it('refuses an event whose segment count differs from the scan, without writing', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    const event = await started(world);
    const outcome = await runSegment(
      { ...event, totalSegments: 4, generation: 9 },
      config(world),
      world.ports,
    );

    expect(outcome).toEqual({ kind: 'stale', reason: 'the event has totalSegments 4, the scan 1' });
    expect(world.store.segments.size).toBe(0);
    expect(world.table.requests).toHaveLength(1); // only start's probe
  });

  it('fails the scan instead of handing off forever when no page can be written', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    world.sink.beforePut = () => {
      throw new DeadlineError(
        '10 of 10 records still failing after 7 attempts (InternalFailure); out of time.',
        7,
      );
    };
    const outcomes = [];
    let event: SegmentEvent | undefined = await started(world);
    while (event && outcomes.length < 10) {
      outcomes.push(await runSegment(event, config(world), world.ports));
      event = world.continuation.events.shift();
    }

    expect(outcomes.map((o) => o.kind)).toEqual([
      ...Array(ChainPolicy.maxStalledHandoffs - 1).fill('handed-off'),
      'failed',
    ]);
    expect(world.store.scan).toMatchObject({ state: 'FAILED' });
    expect(world.store.scan?.error).toBe(
      'No page of segment 0 could be written in 3 consecutive invocations: 10 of 10 records still failing after 7 attempts (InternalFailure); out of time.',
    );
  });

  it('fails the scan after 10 invocations without a page, whatever kept the pages out', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10, msPerPage: 300_000 });
    // Late, single attempts: none of them counts as a refused write on its own.
    world.sink.beforePut = () => {
      throw new DeadlineError(
        '10 of 10 records still failing after 1 attempts (InternalFailure); out of time.',
        1,
      );
    };
    const outcomes = [];
    let event: SegmentEvent | undefined = await started(world);
    while (event && outcomes.length < 20) {
      outcomes.push(await runSegment(event, config(world), world.ports));
      event = world.continuation.events.shift();
    }

    expect(outcomes.map((o) => o.kind)).toEqual([
      ...Array(ChainPolicy.maxIdleHandoffs - 1).fill('handed-off'),
      'failed',
    ]);
    expect(world.store.scan?.error).toMatch(
      /^No page of segment 0 could be written in 10 consecutive invocations/,
    );
  });

  it("does not fail after 3 invocations whose own pace held their page back: only Kinesis's refusals do", async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    let calls = 0;
    // Six invocations in a row send nothing (a short invocation on a busy machine), then pages go.
    world.sink.beforePut = () => {
      if (++calls <= 6) {
        throw new DeadlineError(
          "10 of 10 records not sent: the stream's pace leaves no time before the deadline.",
          0,
        );
      }
    };
    let event: SegmentEvent | undefined = await started(world);
    let last: SegmentOutcome | undefined;
    while (event) {
      last = await runSegment(event, config(world), world.ports);
      event = world.continuation.events.shift();
    }

    expect(calls).toBeGreaterThan(2 * ChainPolicy.maxStalledHandoffs);
    expect(last).toMatchObject({ kind: 'done', scanCompleted: true });
    expect(world.store.scan?.state).toBe('COMPLETED');
  });

  it('does not count a hand-off as a stall when the write ran out of time after one late attempt', async () => {
    // The budget went elsewhere: each page takes 300 of the invocation's 900 s to read (the
    // fake's clock also counts the page read ahead), so the write starts late, and each of the
    // first five invocations has time for one attempt.
    const world = fakeWorld(numberedItems(30), { pageSize: 10, msPerPage: 300_000 });
    let calls = 0;
    world.sink.beforePut = () => {
      if (++calls <= 5)
        throw new DeadlineError(
          '3 of 10 records still failing after 1 attempts (InternalFailure); out of time.',
          1,
        );
    };
    let event: SegmentEvent | undefined = await started(world);
    let last: SegmentOutcome | undefined;
    while (event) {
      last = await runSegment(event, config(world), world.ports);
      event = world.continuation.events.shift();
    }
    expect(last).toMatchObject({ kind: 'done', scanCompleted: true });
    expect(world.store.scan?.state).toBe('COMPLETED');
  });

  it('resets the stall count once a page gets through', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1 });
    let calls = 0;
    world.sink.beforePut = () => {
      // Every other invocation's first put fails; the others make progress.
      if (++calls % 2 === 1) throw new DeadlineError('throttled', 5);
    };
    let event: SegmentEvent | undefined = await started(world);
    let last: SegmentOutcome | undefined;
    while (event) {
      last = await runSegment(event, config(world, { deadline: world.clock.now() + 15_001 }), world.ports);
      event = world.continuation.events.shift();
    }
    expect(last).toMatchObject({ kind: 'done', scanCompleted: true });
  });

  it('marks the scan FAILED when its checkpoint is corrupt', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    const event = await started(world);
    world.store.segments.set(0, '{"v":1,"scanId":"scan-1","state":"RUNNING"}');

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome).toMatchObject({
      kind: 'failed',
      error: expect.stringMatching(/^The segment checkpoint (is corrupt|holds an invalid)/),
    });
    expect(world.store.scan?.state).toBe('FAILED');
  });

  it('stops at its next checkpoint once the scan is no longer running', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 5_000 });
    const event = await started(world);
    world.store.afterSegmentWrite = (checkpoint) => {
      if (checkpoint.itemsScanned > 0 && world.store.scan) {
        world.store.scan = { ...world.store.scan, state: 'FAILED', error: 'another segment failed' };
      }
    };

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome).toEqual({ kind: 'stale', reason: 'the scan is FAILED' });
    // Failed after the first page's checkpoint; the next checkpoint (10 s, two pages later) sees it.
    expect(world.sink.records).toHaveLength(30);
  });

  it('checkpoints less often while SSM throttles, and still completes', async () => {
    const world = fakeWorld(numberedItems(300), { pageSize: 10, msPerPage: 1000 });
    const event = await started(world);
    const save = world.store.saveSegment.bind(world.store);
    let throttled = 0;
    world.store.saveSegment = async (checkpoint) => {
      if (checkpoint.state === 'RUNNING' && checkpoint.itemsScanned > 0 && throttled < 5) {
        throttled++;
        throw new TransientError('PutParameter failed: ThrottlingException: Rate exceeded', {
          cause: Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
        });
      }
      await save(checkpoint);
    };

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome).toMatchObject({ kind: 'done', scanCompleted: true, itemsScanned: 300 });
    // 30 pages of 1 s: the first page's write is throttled (interval 20 s), then the one at 21 s
    // (interval 40 s); no further cadence write is attempted.
    expect(throttled).toBe(2);
    const cadenceWrites = world.store
      .segmentWrites()
      .filter((cp) => cp.state === 'RUNNING' && cp.itemsScanned > 0);
    expect(cadenceWrites).toHaveLength(0);
  });

  it('leaves the completion to a fresh invocation when it finishes close to the deadline', async () => {
    const world = fakeWorld(numberedItems(20), { pageSize: 10, msPerPage: 1_000, msPerPut: 7_500 });
    const event = await started(world);
    // 22 s with a 10 s hand-off margin: two reads of 1 s and two puts of 7.5 s end with 5 s left,
    // not above half the margin.
    const budget = { deadline: world.clock.now() + 22_000, handoffMs: 10_000 };
    const outcome = await runSegment(event, config(world, budget), world.ports);

    expect(outcome).toEqual({ kind: 'done', scanCompleted: false, itemsScanned: 20 });
    expect(world.events.published).toHaveLength(0);
    expect(world.continuation.events).toEqual([event]);

    const fresh = await runSegment(event, config(world), world.ports);
    expect(fresh.kind).toBe('stale');
    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(world.events.published).toHaveLength(1);
  });
});
