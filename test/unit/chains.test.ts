import { describe, expect, it } from 'vitest';
import type { SegmentEvent } from '../../lambda/contract';
import { getStatus, startScan } from '../../lambda/core/scan-control';
import {
  firstCheckpoint,
  type SegmentCheckpoint,
  segmentsDone,
  segmentsOfChain,
} from '../../lambda/core/scan-state';
import { runSegment, type SegmentOutcome, type SegmentRunConfig } from '../../lambda/core/segment-runner';
import { WriteTurns } from '../../lambda/core/write-turns';
import { controlConfig, type FakeWorld, fakeWorld, numberedItems, runConfig, startOptions } from '../fakes';

const config = runConfig;

/** Runs every queued invocation, one at a time, until no event is left. */
async function runAll(
  world: FakeWorld,
  overrides: (world: FakeWorld) => Partial<SegmentRunConfig> = () => ({}),
): Promise<SegmentOutcome[]> {
  const outcomes: SegmentOutcome[] = [];
  for (let event = world.continuation.events.shift(); event; event = world.continuation.events.shift()) {
    outcomes.push(await runSegment(event, config(world, overrides(world)), world.ports));
  }
  return outcomes;
}

describe('chains', () => {
  it('run at most `concurrency` at once, each going on with its next segment, and read every item once', async () => {
    const world = fakeWorld(numberedItems(500), { pageSize: 7 });
    const answer = await startScan(
      startOptions({ segments: 10, concurrency: 3 }),
      controlConfig,
      world.ports,
    );

    expect(answer).toMatchObject({ segments: 10 });
    // One event per chain, named by its first segment.
    expect(world.continuation.events.map((e) => e.segment)).toEqual([0, 1, 2]);
    expect(world.store.scan).toMatchObject({ totalSegments: 10, chains: 3 });
    const read = new Set<string>();
    world.table.readPage = ((original) => async (request) => {
      read.add(`${request.segment}/${request.totalSegments}`);
      return original(request);
    })(world.table.readPage.bind(world.table));

    const outcomes = await runAll(world);

    expect(outcomes.map((o) => o.kind)).toEqual(['done', 'done', 'done']);
    expect([...read].sort()).toEqual(Array.from({ length: 10 }, (_, s) => `${s}/10`).sort());
    expect(world.sink.itemIds().sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(world.store.scan).toMatchObject({ state: 'COMPLETED', summary: { itemsScanned: 500 } });
    // Each record names the segment it was read from: the fake table puts item i in segment i % 10.
    for (const record of world.sink.records) {
      const { dynamodb, scan } = JSON.parse(Buffer.from(record.data).toString('utf8')) as {
        dynamodb: { Keys: { pk: { N: string } } };
        scan: { segment: number };
      };
      expect(scan.segment).toBe(Number(dynamodb.Keys.pk.N) % 10);
    }
  });

  it('keep one parameter per chain, whatever the number of segments', async () => {
    const world = fakeWorld(numberedItems(2000), { pageSize: 5, msPerPage: 200 });
    await startScan(startOptions({ segments: 200, concurrency: 4 }), controlConfig, world.ports);
    let most = 0;
    world.store.afterSegmentWrite = () => {
      most = Math.max(most, world.store.segments.size);
    };

    await runAll(world);

    expect(most).toBeLessThanOrEqual(4);
    expect(world.store.segments.size).toBe(0);
    expect(world.store.scan?.state).toBe('COMPLETED');
  });

  it('resume a chain from its checkpoint, in the segment it had reached', async () => {
    const world = fakeWorld(numberedItems(600), { pageSize: 5, msPerPage: 1000 });
    await startScan(startOptions({ segments: 6, concurrency: 2 }), controlConfig, world.ports);
    // Invocations of 40 s: each hands off after about 25 pages, in the middle of a segment.
    const outcomes = await runAll(world, (w) => ({ deadline: w.clock.now() + 40_000 }));

    expect(outcomes.filter((o) => o.kind === 'handed-off').length).toBeGreaterThanOrEqual(4);
    const ids = world.sink.itemIds();
    // Hand-offs write nothing twice: every page accepted before a hand-off is behind its checkpoint.
    expect(ids.length).toBe(600);
    expect(new Set(ids).size).toBe(600);
    expect(world.store.scan).toMatchObject({ state: 'COMPLETED', summary: { itemsScanned: 600 } });
  });

  it('share the SSM write budget: each chain writes (hand-offs and DONE included) only in its own turns, once per cycle', async () => {
    const world = fakeWorld(numberedItems(4000), { pageSize: 10, msPerPage: 500 });
    await startScan(startOptions({ segments: 8, concurrency: 4 }), controlConfig, world.ports);
    const writes: { chain: number; at: number; state: string }[] = [];
    world.store.afterSegmentWrite = (checkpoint) => {
      writes.push({ chain: checkpoint.segment, at: world.clock.now(), state: checkpoint.state });
    };
    const startedAt = world.store.scan?.startedAt ?? 0;

    // 2 writes a second for 4 chains: one write per chain every 2 s; invocations of 30 s.
    const outcomes = await runAll(world, (w) => ({
      checkpointWritesPerSecond: 2,
      checkpointIntervalMs: 0,
      deadline: w.clock.now() + 30_000,
    }));
    expect(outcomes.filter((o) => o.kind === 'handed-off').length).toBeGreaterThanOrEqual(4);
    expect(world.store.scan?.state).toBe('COMPLETED');

    // Slots of 0.5 s, chain c owning every fourth from c: each write falls in one of its own
    // windows (two slots wide), one write per cycle of 2 s at most.
    for (const chain of [0, 1, 2, 3]) {
      const origin = startedAt + chain * 500;
      const mine = writes.filter((w) => w.chain === chain).map((w) => w.at);
      expect(mine.length).toBeGreaterThan(3);
      const cycles = mine.map((at) => Math.floor((at - origin) / 2000));
      for (const [i, at] of mine.entries()) {
        // The window is 1 s; a write is stamped after its read, which here can take a page's
        // 0.5 s of fake time (a prefetch read moves the fake clock meanwhile).
        expect(at - origin - (cycles[i] ?? 0) * 2000).toBeLessThanOrEqual(1000 + 500);
        if (i > 0) expect(cycles[i]).toBeGreaterThan(cycles[i - 1] ?? 0);
      }
    }
  });

  it('report segments done, running and pending from the chain checkpoints', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 5 });
    await startScan(startOptions({ segments: 10, concurrency: 3 }), controlConfig, world.ports);
    const scan = world.store.scan;
    if (scan === null) throw new Error('no scan');
    const checkpoint = (segment: number, currentSegment: number, state: SegmentCheckpoint['state']) =>
      world.store.saveSegment({
        ...firstCheckpoint(scan, segment, 1, world.clock.now()),
        currentSegment,
        owner: 'o',
        state,
        itemsScanned: 10,
        recordsPut: 10,
        bytesPut: 100,
      });
    // Chain 0 (segments 0, 3, 6, 9) is on 6; chain 1 (1, 4, 7) is done; chain 2 has not written.
    await checkpoint(0, 6, 'RUNNING');
    await checkpoint(1, 7, 'DONE');

    const status = await getStatus(controlConfig, world.ports);

    expect(status.chains).toBe(3);
    expect(status.segments).toEqual({
      total: 10,
      done: 2 + 3,
      running: 2,
      pending: 3,
      stalled: 0,
      stopped: 0,
      failed: 0,
    });
    expect(status.itemsScanned).toBe(20);
  });
});

describe('segment arithmetic', () => {
  it('gives each chain every chains-th segment from its first', () => {
    const scan = { chains: 3, totalSegments: 10 };
    expect([0, 1, 2].map((c) => segmentsOfChain(scan, c))).toEqual([4, 3, 3]);
    const running = { segment: 1, currentSegment: 7, state: 'RUNNING' } as SegmentCheckpoint;
    expect(segmentsDone(scan, running)).toBe(2);
    expect(segmentsDone(scan, { ...running, state: 'DONE' })).toBe(3);
  });
});

describe('completion', () => {
  it('costs a finishing chain one read while another chain is still at work', async () => {
    const world = fakeWorld(numberedItems(400), { pageSize: 10 });
    await startScan(startOptions({ segments: 40, concurrency: 40 }), controlConfig, world.ports);
    const batches: number[][] = [];
    const load = world.store.loadSegments.bind(world.store);
    world.store.loadSegments = async (segments) => {
      batches.push([...segments]);
      return load(segments);
    };
    const events: SegmentEvent[] = world.continuation.events.splice(0);
    for (const event of events) await runSegment(event, config(world), world.ports);

    // 39 chains found a chain after them still at work in their first batch of 10; the last
    // read all 40 chains, 10 at a time.
    expect(batches.length).toBe(39 + 4);
    expect(world.store.scan?.state).toBe('COMPLETED');
  });
});

describe('write turns', () => {
  const turns = new WriteTurns({ startedAt: 0, chain: 3, chains: 100, writesPerSecond: 2 });

  it('give chain c the slot of 1 / budget seconds at c / budget, every chains / budget seconds', () => {
    expect(turns.cycleMs).toBe(50_000);
    expect(turns.turnAfter(null)).toBe(1500);
    expect(turns.turnAfter(1600)).toBe(51_500);
    expect(turns.turnAfter(40_000)).toBe(51_500);
  });

  it('open for two slots from each turn, and not before the turn after the last write', () => {
    expect(turns.isOpen(1400, null)).toBe(false);
    expect(turns.isOpen(1500, null)).toBe(true);
    expect(turns.isOpen(2499, null)).toBe(true);
    expect(turns.isOpen(2500, null)).toBe(false);
    expect(turns.isOpen(1700, 1600)).toBe(false);
    expect(turns.nextOpening(1700, 1600)).toBe(51_500);
    expect(turns.nextOpening(30_000, null)).toBe(51_500);
  });

  it('are always open without a budget', () => {
    const free = new WriteTurns({ startedAt: 0, chain: 3, chains: 100, writesPerSecond: undefined });
    expect(free.cycleMs).toBe(0);
    expect(free.isOpen(5, 4)).toBe(true);
    expect(free.nextOpening(5, 4)).toBe(5);
  });
});
