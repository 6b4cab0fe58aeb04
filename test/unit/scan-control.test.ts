import { describe, expect, it } from 'vitest';
import { FatalScanError, TransientError } from '../../lambda/core/errors';
import { getStatus, startScan } from '../../lambda/core/scan-control';
import { runSegment } from '../../lambda/core/segment-runner';
import { fakeWorld, numberedItems } from '../fakes';

const start = { tableName: 'Orders', totalSegments: 1 };

describe('startScan', () => {
  it('records a running scan and launches its segment chain at generation 1', async () => {
    const world = fakeWorld(numberedItems(10));
    const answer = await startScan(start, world.ports);

    expect(answer).toMatchObject({ scanId: 'scan-1', state: 'RUNNING', alreadyRunning: false, segments: 1 });
    expect(world.store.scan).toMatchObject({
      scanId: 'scan-1',
      state: 'RUNNING',
      keyAttributes: ['pk'],
      tableName: 'Orders',
    });
    expect(world.continuation.events).toEqual([
      { action: 'segment', scanId: 'scan-1', segment: 0, totalSegments: 1, generation: 1 },
    ]);
  });

  it('does not scan inside the call beyond a one-item probe', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(start, world.ports);
    expect(world.table.requests).toEqual([
      { segment: 0, totalSegments: 1, exclusiveStartKey: null, limit: 1 },
    ]);
    expect(world.sink.records).toHaveLength(0);
  });

  it('reports the running scan instead of starting a second one', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(start, world.ports);
    const again = await startScan(start, world.ports);

    expect(again).toMatchObject({ scanId: 'scan-1', alreadyRunning: true });
    expect(world.continuation.events).toHaveLength(1);
  });

  it('starts a new scan, not a resumed one, after the last one completed', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(start, world.ports);
    const first = world.continuation.events.shift();
    if (!first) throw new Error('no event');
    await runSegment(
      first,
      {
        deadline: world.clock.now() + 900_000,
        handoffMs: 15_000,
        checkpointIntervalMs: 10_000,
        region: 'us-east-1',
      },
      world.ports,
    );

    const second = await startScan(start, world.ports);

    expect(second).toMatchObject({ scanId: 'scan-2', alreadyRunning: false });
    expect(world.continuation.events).toEqual([expect.objectContaining({ scanId: 'scan-2', generation: 1 })]);
  });

  it('writes nothing when the probe scan is refused', async () => {
    const world = fakeWorld(numberedItems(10));
    world.table.failWith = new FatalScanError('Scan on Orders failed: AccessDeniedException');

    await expect(startScan(start, world.ports)).rejects.toThrow('AccessDeniedException');
    expect(world.store.writes).toEqual([]);
    expect(world.continuation.events).toEqual([]);
  });

  it('marks the scan FAILED when its chain cannot be launched', async () => {
    const world = fakeWorld(numberedItems(10));
    world.continuation.failWith = new TransientError('Invoke throttled');

    await expect(startScan(start, world.ports)).rejects.toThrow('Invoke throttled');
    expect(world.store.scan).toMatchObject({
      state: 'FAILED',
      error: 'Could not launch the segment chains: Invoke throttled',
    });
  });

  it('clears checkpoints left by an earlier failed scan', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(start, world.ports);
    await world.store.saveSegment({
      scanId: 'scan-1',
      segment: 5,
      totalSegments: 8,
      generation: 4,
      owner: null,
      state: 'FAILED',
      position: null,
      itemsScanned: 1,
      recordsPut: 1,
      bytesPut: 1,
      handoffs: 0,
      stalls: 0,
      updatedAt: 0,
      error: 'boom',
    });
    await world.store.saveScan({ ...(world.store.scan ?? fail()), state: 'FAILED' });

    await startScan(start, world.ports);

    expect(world.store.segments.has(5)).toBe(false);
  });
  it('completes a scan whose segments are all done before starting the next one', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(start, world.ports);
    const done = {
      scanId: 'scan-1',
      segment: 0,
      totalSegments: 1,
      generation: 1,
      owner: null,
      state: 'DONE' as const,
      position: null,
      itemsScanned: 10,
      recordsPut: 10,
      bytesPut: 100,
      handoffs: 0,
      stalls: 0,
      updatedAt: world.clock.now(),
      error: null,
    };
    await world.store.saveSegment(done);

    const next = await startScan(start, world.ports);

    expect(next).toMatchObject({ scanId: 'scan-2', alreadyRunning: false });
    expect(
      world.store.writes.some(
        (w) => w.kind === 'scan' && (w.value as { state: string; scanId: string }).state === 'COMPLETED',
      ),
    ).toBe(true);
  });
});

describe('getStatus', () => {
  it('reports IDLE before the first scan', async () => {
    const world = fakeWorld([]);
    expect(await getStatus(world.ports)).toMatchObject({ scanId: null, state: 'IDLE', itemsScanned: 0 });
  });

  it('aggregates the running segment with its checkpoint age', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(start, world.ports);
    const event = world.continuation.events.shift();
    if (!event) throw new Error('no event');
    await runSegment(
      event,
      {
        deadline: world.clock.now() + 20_000,
        handoffMs: 15_000,
        checkpointIntervalMs: 1000,
        region: 'us-east-1',
      },
      world.ports,
    );
    world.clock.advance(30_000);

    const status = await getStatus(world.ports);

    expect(status).toMatchObject({
      scanId: 'scan-1',
      state: 'RUNNING',
      handoffs: 1,
      segments: { total: 1, done: 0, running: 1, failed: 0 },
    });
    expect(status.itemsScanned).toBeGreaterThan(0);
    expect(status.checkpointAgeSeconds).toBe(30);
  });

  it('reports the kept summary once the scan completed', async () => {
    const world = fakeWorld(numberedItems(42), { pageSize: 10 });
    await startScan(start, world.ports);
    const event = world.continuation.events.shift();
    if (!event) throw new Error('no event');
    await runSegment(
      event,
      {
        deadline: world.clock.now() + 900_000,
        handoffMs: 15_000,
        checkpointIntervalMs: 1000,
        region: 'us-east-1',
      },
      world.ports,
    );

    expect(await getStatus(world.ports)).toMatchObject({
      state: 'COMPLETED',
      itemsScanned: 42,
      recordsPut: 42,
      segments: { total: 1, done: 1, running: 0, failed: 0 },
      checkpointAgeSeconds: null,
    });
  });
});

function fail(): never {
  throw new Error('no scan');
}
