import { describe, expect, it } from 'vitest';
import type { SegmentEvent } from '../../lambda/contract';
import { getStatus, resumeScan, startScan, stopScan } from '../../lambda/core/scan-control';
import { runSegment, type SegmentRunConfig } from '../../lambda/core/segment-runner';
import { controlConfig, type FakeWorld, fakeWorld, numberedItems, runConfig, startOptions } from '../fakes';

/**
 * The races of the control plane, each reproduced by interleaving two callers at the moment that
 * used to break a promise: SSM has no compare-and-swap, so each transition must hold when the
 * other caller writes between its read and its write.
 */

function budget(world: FakeWorld, ms = 900_000): SegmentRunConfig {
  return runConfig(world, { deadline: world.clock.now() + ms, checkpointIntervalMs: 1000 });
}

function shift(world: FakeWorld): SegmentEvent {
  const event = world.continuation.events.shift();
  if (!event) throw new Error('no event queued');
  return event;
}

describe('races', () => {
  it('1. a stop that read the scan running and writes after its completion leaves it COMPLETED', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions(), controlConfig, world.ports);
    const chain = shift(world);
    // The stop reads RUNNING and finds no completion claim; the chain then finishes and completes
    // the scan before the stop writes.
    const listClaims = world.store.listClaims.bind(world.store);
    let raced = false;
    world.store.listClaims = async (kind, key) => {
      const before = await listClaims(kind, key);
      if (!raced && kind === 'completion' && key === 'scan-1') {
        raced = true;
        expect(await runSegment(chain, budget(world), world.ports)).toMatchObject({ scanCompleted: true });
      }
      return before;
    };

    await stopScan(world.ports);

    expect(await world.store.loadScan()).toMatchObject({ state: 'COMPLETED', summary: { itemsScanned: 30 } });
    expect(await getStatus(controlConfig, world.ports)).toMatchObject({
      state: 'COMPLETED',
      itemsScanned: 30,
    });
    await expect(resumeScan(controlConfig, world.ports)).rejects.toThrow('is COMPLETED');
    expect(world.continuation.events).toEqual([]);
  });

  it('2. a restart that the SDK or the AWS CLI sends again after it recorded its scan starts one scan', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions(), controlConfig, world.ports);
    world.continuation.events.length = 0;
    const restart = startOptions({ restart: true, segments: 2 });

    const first = await startScan(restart, controlConfig, world.ports);
    world.clock.advance(61_000); // the AWS CLI resends a synchronous invoke after 60 s
    const again = await startScan(restart, controlConfig, world.ports);

    expect(first).toMatchObject({ scanId: 'scan-2', alreadyRunning: false });
    expect(again).toMatchObject({ scanId: 'scan-2', alreadyRunning: true });
    expect(world.store.scan?.scanId).toBe('scan-2');
    expect(world.continuation.events.map((e) => e.scanId)).toEqual(['scan-2', 'scan-2']);
    // A restart asked for later, or with other options, is a new request.
    const other = await startScan(startOptions({ restart: true, segments: 3 }), controlConfig, world.ports);
    expect(other).toMatchObject({ scanId: 'scan-3', alreadyRunning: false });
  });

  it("3. an old scan's checkpoint that lands after the restarted scan's chain claimed the segment does not strand it", async () => {
    const world = fakeWorld(numberedItems(300), { pageSize: 10, msPerPage: 500 });
    await startScan(startOptions(), controlConfig, world.ports);
    const old = shift(world);
    // The old chain runs a while, then the scan is restarted.
    await runSegment(old, budget(world, 20_000), world.ports);
    const late = await world.store.loadSegment(0);
    world.continuation.events.length = 0;
    await startScan(startOptions({ restart: true }), controlConfig, world.ports);
    const fresh = shift(world);
    // Right after the new chain's claim, the old chain's checkpoint write (read before the
    // restart) lands on the same parameter.
    world.store.afterSegmentWrite = (checkpoint) => {
      if (checkpoint.scanId === 'scan-2' && late !== null) {
        world.store.afterSegmentWrite = undefined;
        world.store.segments.set(0, JSON.stringify({ v: 1, ...late, position: null }));
      }
    };

    const outcome = await runSegment(fresh, budget(world), world.ports);

    expect(outcome).toMatchObject({ kind: 'done', scanCompleted: true, itemsScanned: 300 });
    expect(world.store.scan).toMatchObject({ scanId: 'scan-2', state: 'COMPLETED' });
  });

  it('4. a late duplicate delivery that starts just before the scan completes writes nothing after it', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions(), controlConfig, world.ports);
    const chain = shift(world);
    // The duplicate reads the scan running; the first delivery then completes it.
    const loadScan = world.store.loadScan.bind(world.store);
    let raced = false;
    world.store.loadScan = async () => {
      const seen = await loadScan();
      if (!raced) {
        raced = true;
        expect(await runSegment(chain, budget(world), world.ports)).toMatchObject({ scanCompleted: true });
      }
      return seen;
    };
    const writesBefore = world.store.writes.length;

    await runSegment(chain, budget(world), world.ports);
    world.store.loadScan = loadScan;

    // The completion deleted the checkpoint; the duplicate wrote none after it, and the summary holds.
    const completed = world.store.writes.findIndex(
      (w) => w.kind === 'scan' && (w.value as { state: string }).state === 'COMPLETED',
    );
    expect(completed).toBeGreaterThan(writesBefore);
    expect(world.store.writes.slice(completed + 1).filter((w) => w.kind === 'segment')).toEqual([]);
    expect(world.store.segments.size).toBe(0);
    expect(world.store.scan).toMatchObject({ state: 'COMPLETED', summary: { itemsScanned: 30 } });
    expect(world.events.published).toHaveLength(1);
  });
});

describe('copies of one chain', () => {
  it('that handed off together go on as one: a successor whose hand-off was overwritten exits', async () => {
    const world = fakeWorld(numberedItems(300), { pageSize: 10, msPerPage: 500 });
    await startScan(startOptions(), controlConfig, world.ports);
    const first = shift(world);
    await runSegment(first, budget(world, 20_000), world.ports);
    const handedOff = shift(world);
    expect(handedOff).toMatchObject({ generation: 2, from: expect.any(String) });
    // The other copy's successor: the same generation, from an invocation whose write was overwritten.
    const loser = { ...handedOff, from: 'the-other-copy' };
    const writesBefore = world.store.writes.length;

    expect(await runSegment(loser, budget(world), world.ports)).toEqual({
      kind: 'stale',
      reason: 'the hand-off to generation 2 came from another invocation',
    });
    expect(world.store.writes.length).toBe(writesBefore);
    expect(await runSegment(handedOff, budget(world), world.ports)).toMatchObject({ kind: 'done' });
  });
});

describe('the write budget', () => {
  it('never holds pages back for a cadence checkpoint: one that misses its turn waits for the next page', async () => {
    const world = fakeWorld(numberedItems(3000), { pageSize: 10, msPerPage: 100 });
    await startScan(startOptions({ segments: 4, concurrency: 4 }), controlConfig, world.ports);
    const chain = shift(world);
    const started = world.clock.now();

    // 4 chains sharing 2 writes a second: a turn every 2 s; 75 pages of 0.1 s for this chain.
    const outcome = await runSegment(chain, { ...budget(world), checkpointWritesPerSecond: 2 }, world.ports);

    expect(outcome).toMatchObject({ kind: 'done', itemsScanned: 750 });
    const checkpoints = world.store.segmentWrites().filter((w) => w.state === 'RUNNING').length;
    expect(checkpoints).toBeGreaterThanOrEqual(3);
    // The pages take 7.5 s; the DONE write waits at most one cycle (2 s) for its turn.
    expect(world.clock.now() - started).toBeLessThanOrEqual(7_500 + 2_000 + 500);
  });
});
