import { describe, expect, it } from 'vitest';
import type { SegmentEvent } from '../../lambda/contract';
import { FatalScanError, TransientError } from '../../lambda/core/errors';
import type { Log, ScannerPorts } from '../../lambda/core/ports';
import {
  failScan,
  getStatus,
  resumeScan,
  runWatchdog,
  startScan,
  stopScan,
} from '../../lambda/core/scan-control';
import { runSegment, type SegmentOutcome } from '../../lambda/core/segment-runner';
import { controlConfig, type FakeWorld, fakeWorld, numberedItems, silentLog, startOptions } from '../fakes';

const budget = (world: FakeWorld, ms = 900_000) => ({
  deadline: world.clock.now() + ms,
  handoffMs: 15_000,
  checkpointIntervalMs: 1000,
  region: 'us-east-1',
  stalledAfterMs: controlConfig.stalledAfterMs,
});

async function drain(world: FakeWorld, budgetMs = 900_000): Promise<SegmentOutcome[]> {
  const outcomes: SegmentOutcome[] = [];
  for (let event = world.continuation.events.shift(); event; event = world.continuation.events.shift()) {
    outcomes.push(await runSegment(event, budget(world, budgetMs), world.ports));
  }
  return outcomes;
}

function shift(world: FakeWorld): SegmentEvent {
  const event = world.continuation.events.shift();
  if (!event) throw new Error('no event queued');
  return event;
}

/** Starts a 2-segment scan and loses every queued event after segment 0's first invocation. */
async function startWithLostChains(world: FakeWorld): Promise<void> {
  await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
  await runSegment(shift(world), budget(world, 20_000), world.ports);
  world.continuation.events.length = 0;
}

describe('SegmentsStalled', () => {
  it('counts nothing while every chain is alive', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    await runWatchdog(controlConfig, world.ports);
    expect(world.metrics.totals.SegmentsStalled).toBeUndefined();
  });

  it('counts each segment the watchdog relaunches', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    await startWithLostChains(world);
    world.clock.advance(controlConfig.stalledAfterMs + 1);

    expect(await runWatchdog(controlConfig, world.ports)).toMatchObject({ relaunched: 2 });
    expect(world.metrics.totals.SegmentsStalled).toBe(2);
  });

  it('counts the stalled segments a resume of a running scan relaunches', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    await startWithLostChains(world);
    world.clock.advance(controlConfig.stalledAfterMs + 1);

    expect(await resumeScan(controlConfig, world.ports)).toMatchObject({ relaunched: 2 });
    expect(world.metrics.totals.SegmentsStalled).toBe(2);
  });

  it('counts stalled segments even when relaunching them fails', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    await startWithLostChains(world);
    world.clock.advance(controlConfig.stalledAfterMs + 1);
    world.continuation.failWith = new TransientError('Invoke throttled');

    await expect(runWatchdog(controlConfig, world.ports)).rejects.toThrow('Invoke throttled');
    expect(world.metrics.totals.SegmentsStalled).toBe(2);
  });

  it('does not count the segments a resume of a stopped scan continues', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    await stopScan(world.ports);
    await drain(world);
    expect(world.store.scan?.state).toBe('STOPPED');

    await resumeScan(controlConfig, world.ports);
    expect(world.continuation.events).toHaveLength(2);
    expect(world.metrics.totals.SegmentsStalled).toBeUndefined();
  });
});

describe('ScansFailed', () => {
  it('counts a scan that fails in a segment', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions({ segments: 3 }), controlConfig, world.ports);
    world.table.failWith = new FatalScanError('Scan on Orders failed: AccessDeniedException');

    const outcomes = await drain(world);
    expect(outcomes.map((o) => o.kind)).toContain('failed');
    expect(world.store.scan?.state).toBe('FAILED');
    expect(world.metrics.totals.ScansFailed).toBe(1);
  });

  it("reports a failed scan's segments in counts that add up to the total", async () => {
    const world = fakeWorld(numberedItems(60), { pageSize: 10 });
    await startScan(startOptions({ segments: 4, concurrency: 2 }), controlConfig, world.ports);
    // Chain 0 scans a page and hands off; chain 1 then fails the scan.
    await runSegment(shift(world), budget(world, 20_000), world.ports);
    world.table.failWith = new FatalScanError('Scan on Orders failed: AccessDeniedException');
    await runSegment(shift(world), budget(world), world.ports);

    const { state, segments } = await getStatus(controlConfig, world.ports);
    expect(state).toBe('FAILED');
    expect(segments.failed).toBe(1);
    expect(segments.done + segments.running + segments.pending + segments.stopped + segments.failed).toBe(
      segments.total,
    );
  });

  it('counts a scan once, not once per segment that marks it failed', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions({ segments: 3 }), controlConfig, world.ports);
    for (let segment = 0; segment < 3; segment++) {
      await failScan('scan-1', `segment ${segment} failed`, world.ports);
    }
    expect(world.store.scan).toMatchObject({ state: 'FAILED', error: 'segment 0 failed' });
    expect(world.metrics.totals.ScansFailed).toBe(1);
  });

  it('counts a scan whose chains cannot be launched', async () => {
    const world = fakeWorld(numberedItems(10));
    world.continuation.failWith = new TransientError('Invoke throttled');
    await expect(startScan(startOptions(), controlConfig, world.ports)).rejects.toThrow('Invoke throttled');
    expect(world.store.scan?.state).toBe('FAILED');
    expect(world.metrics.totals.ScansFailed).toBe(1);
  });

  it('counts nothing for a scan that completes', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions({ segments: 3 }), controlConfig, world.ports);
    await drain(world);
    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(world.metrics.totals.ScansFailed).toBeUndefined();
  });
});

describe('ScanDuration', () => {
  it('records the seconds from start to completion, once, by the completer', async () => {
    const world = fakeWorld(numberedItems(120), { pageSize: 10, msPerPage: 1500 });
    await startScan(startOptions({ segments: 4 }), controlConfig, world.ports);
    await drain(world);

    const scan = world.store.scan;
    expect(scan?.state).toBe('COMPLETED');
    // 4 segments of 3 pages and a last empty read, 1.5 s each, one after the other.
    expect(world.metrics.totals.ScanDuration).toBe(((scan?.finishedAt ?? 0) - (scan?.startedAt ?? 0)) / 1000);
    expect(world.metrics.totals.ScanDuration).toBeGreaterThanOrEqual(18);
  });

  it('is not recorded again when the finishing event is delivered twice', async () => {
    const world = fakeWorld(numberedItems(20), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions(), controlConfig, world.ports);
    const event = shift(world);
    await runSegment(event, budget(world), world.ports);
    const once = world.metrics.totals.ScanDuration;

    await runSegment(event, budget(world), world.ports);
    await runWatchdog(controlConfig, world.ports);
    await getStatus(controlConfig, world.ports);
    expect(once).toBeGreaterThan(0);
    expect(world.metrics.totals.ScanDuration).toBe(once);
  });

  it('is not recorded for a scan that stops', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    await stopScan(world.ports);
    await drain(world);
    expect(world.store.scan?.state).toBe('STOPPED');
    expect(world.metrics.totals.ScanDuration).toBeUndefined();
  });
});

describe('log keys of control requests', () => {
  /** The world's ports with a log that keeps the keys appended to it, as Powertools Logger would. */
  function keyedWorld(): { world: FakeWorld; ports: ScannerPorts; keys: () => Record<string, unknown> } {
    const world = fakeWorld(numberedItems(20), { pageSize: 10, msPerPage: 1000 });
    let keys: Record<string, unknown> = {};
    const log: Log = { ...silentLog, appendKeys: (more) => Object.assign(keys, more) };
    return {
      world,
      ports: { ...world.ports, log },
      keys: () => {
        const appended = keys;
        keys = {}; // a new invocation starts without keys
        return appended;
      },
    };
  }

  it('names the new scan once start has recorded it', async () => {
    const { ports, keys } = keyedWorld();
    await startScan(startOptions(), controlConfig, ports);
    expect(keys()).toEqual({ scanId: 'scan-1' });
  });

  it('names the running scan that a repeated start reports', async () => {
    const { ports, keys } = keyedWorld();
    await startScan(startOptions(), controlConfig, ports);
    keys();
    expect(await startScan(startOptions(), controlConfig, ports)).toMatchObject({ alreadyRunning: true });
    expect(keys()).toEqual({ scanId: 'scan-1' });
  });

  it('names no scan when start refuses its options before recording one', async () => {
    const { ports, keys } = keyedWorld();
    await expect(
      startScan(startOptions({ segments: 2, startKey: { pk: { N: '1' } } }), controlConfig, ports),
    ).rejects.toThrow('startKey');
    expect(keys()).toEqual({});
  });

  it('names the current scan in status, stop, resume and the watchdog', async () => {
    const { ports, keys } = keyedWorld();
    await startScan(startOptions(), controlConfig, ports);
    keys();
    for (const request of [
      () => getStatus(controlConfig, ports),
      () => stopScan(ports),
      () => runWatchdog(controlConfig, ports),
      () => resumeScan(controlConfig, ports),
    ]) {
      await request();
      expect(keys()).toEqual({ scanId: 'scan-1' });
    }
  });

  it('names the current scan even when a request names another', async () => {
    const { ports, keys } = keyedWorld();
    await startScan(startOptions(), controlConfig, ports);
    keys();
    await expect(stopScan(ports, 'scan-0')).rejects.toThrow('scanId');
    expect(keys()).toEqual({ scanId: 'scan-1' });
  });
});
