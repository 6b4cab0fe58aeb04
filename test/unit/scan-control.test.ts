import { describe, expect, it } from 'vitest';
import type { SegmentEvent } from '../../lambda/contract';
import {
  ConflictError,
  FatalScanError,
  TransientError,
  UncertainOutcomeError,
  UnreadableParameterError,
  ValidationError,
} from '../../lambda/core/errors';
import {
  autoSegments,
  getStatus,
  listScans,
  resumeScan,
  runWatchdog,
  startScan,
  stopScan,
} from '../../lambda/core/scan-control';
import { decodeScan, encodeScan, firstCheckpoint } from '../../lambda/core/scan-state';
import { runSegment, type SegmentOutcome } from '../../lambda/core/segment-runner';
import { controlConfig, type FakeWorld, fakeWorld, numberedItems, startOptions } from '../fakes';

const budget = (world: FakeWorld, ms = 900_000) => ({
  deadline: world.clock.now() + ms,
  handoffMs: 15_000,
  checkpointIntervalMs: 1000,
  region: 'us-east-1',
  stalledAfterMs: 960_000,
});

/** Runs queued chain events (each with the given budget) until none is left. */
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

describe('startScan', () => {
  it('records a running scan and launches its segment chain at generation 1', async () => {
    const world = fakeWorld(numberedItems(10));
    const answer = await startScan(startOptions(), controlConfig, world.ports);

    expect(answer).toMatchObject({ scanId: 'scan-1', state: 'RUNNING', alreadyRunning: false, segments: 1 });
    expect(world.store.scan).toMatchObject({
      scanId: 'scan-1',
      state: 'RUNNING',
      keyAttributes: ['pk'],
      tableItemCount: 10,
    });
    expect(world.continuation.events).toEqual([
      { action: 'segment', scanId: 'scan-1', segment: 0, totalSegments: 1, generation: 1 },
    ]);
  });

  it('launches one chain per segment', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(startOptions({ segments: 8 }), controlConfig, world.ports);
    expect(world.continuation.events.map((e) => [e.segment, e.totalSegments, e.generation])).toEqual(
      Array.from({ length: 8 }, (_, i) => [i, 8, 1]),
    );
  });

  it('derives "auto" segments from the table size and the stream capacity', async () => {
    const world = fakeWorld(numberedItems(10));
    world.table.sizeBytes = 10_000_000_000;
    world.sink.stream = { mode: 'PROVISIONED', openShards: 6 };
    expect(await startScan(startOptions({ segments: 'auto' }), controlConfig, world.ports)).toMatchObject({
      segments: 6,
    });
  });

  it('does not scan inside the call beyond a one-item probe with the scan options', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(
      startOptions({ filterExpression: 'a = :a', expressionValues: { ':a': { S: 'x' } } }),
      controlConfig,
      world.ports,
    );
    expect(world.table.requests).toHaveLength(1);
    expect(world.table.requests[0]).toMatchObject({ limit: 1, options: { filterExpression: 'a = :a' } });
    expect(world.sink.records).toHaveLength(0);
  });

  it('adds the key attributes to a projection so every record has its key', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(
      startOptions({ projectionExpression: '#b', expressionNames: { '#b': 'body' } }),
      controlConfig,
      world.ports,
    );
    expect(world.store.scan?.options).toMatchObject({
      projectionExpression: '#b, #ddbscanKey0',
      expressionNames: { '#b': 'body', '#ddbscanKey0': 'pk' },
    });
  });

  it("records the stream's open shards and keeps the rate limits with the scan", async () => {
    const world = fakeWorld(numberedItems(10));
    world.sink.stream = { mode: 'PROVISIONED', openShards: 6 };
    await startScan(
      startOptions({ segments: 3, maxItemsPerSecond: 2000, maxReadUnitsPerSecond: 150 }),
      controlConfig,
      world.ports,
    );

    expect(world.store.scan).toMatchObject({
      totalSegments: 3,
      chains: 3,
      streamShards: 6,
      options: { maxItemsPerSecond: 2000, maxReadUnitsPerSecond: 150 },
    });
    // As kept in the root parameter.
    const scan = world.store.scan;
    expect(decodeScan(encodeScan(scan))).toEqual(scan);
  });

  it('keeps no rate limit when the start sets none', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(startOptions(), controlConfig, world.ports);
    expect(world.store.scan).toMatchObject({
      streamShards: 4,
      options: { maxItemsPerSecond: null, maxReadUnitsPerSecond: null },
    });
  });

  it('makes one scan of five concurrent starts, and every caller gets its id', async () => {
    const world = fakeWorld(numberedItems(10));
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => startScan(startOptions({ segments: 2 }), controlConfig, world.ports)),
    );

    expect(new Set(answers.map((a) => a.scanId))).toEqual(new Set(['scan-1']));
    expect(answers.filter((a) => !a.alreadyRunning)).toHaveLength(1);
    expect(world.continuation.events).toHaveLength(2);
  });

  it('takes over the start claim of a start that died before recording its scan', async () => {
    const world = fakeWorld(numberedItems(10));
    await world.store.createClaim('start', 'none', 0, { holder: 'dead', at: world.clock.now() });
    await expect(startScan(startOptions(), controlConfig, world.ports)).rejects.toThrow(
      'Another start is in progress',
    );

    world.clock.advance(120_001);
    expect(await startScan(startOptions(), controlConfig, world.ports)).toMatchObject({
      alreadyRunning: false,
    });
  });

  it('reports the running scan to the same request instead of starting a second one', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(
      startOptions({ segments: 2, filterExpression: 'n > :n', expressionValues: { ':n': { N: '1' } } }),
      controlConfig,
      world.ports,
    );
    const again = await startScan(
      startOptions({ segments: 2, filterExpression: 'n > :n', expressionValues: { ':n': { N: '1' } } }),
      controlConfig,
      world.ports,
    );

    expect(again).toMatchObject({ scanId: 'scan-1', alreadyRunning: true, segments: 2 });
    // "auto" and the default concurrency leave the choice to the scanner: the running scan answers.
    expect(
      await startScan(
        startOptions({
          segments: 'auto',
          filterExpression: 'n > :n',
          expressionValues: { ':n': { N: '1' } },
        }),
        controlConfig,
        world.ports,
      ),
    ).toMatchObject({ scanId: 'scan-1', alreadyRunning: true });
    expect(world.continuation.events).toHaveLength(2);
  });

  it('answers a retry of the very request that started the scan, whatever changed since', async () => {
    const world = fakeWorld(numberedItems(10));
    const request = startOptions({ segments: 'auto', maxItemsPerSecond: 2 });
    await startScan(request, controlConfig, world.ports);
    // The table grew (auto would now pick more segments than the limit allows chains), and is
    // throttling: the retry neither re-derives its options nor probes.
    world.table.sizeBytes = 4_000_000_000;
    world.table.failWith = new TransientError('Scan throttled');
    world.table.describeTable = () => Promise.reject(new TransientError('DescribeTable throttled'));

    expect(await startScan(request, controlConfig, world.ports)).toMatchObject({
      scanId: 'scan-1',
      alreadyRunning: true,
    });
  });

  it('leaves the page size to the scanner when a request names none, like the segments with "auto"', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(startOptions({ restart: true }), controlConfig, world.ports);
    // Not the same request (no restart), and the function's default page size changed since.
    const redeployed = { ...controlConfig, defaultPageSize: 7 };
    expect(await startScan(startOptions({ segments: 'auto' }), redeployed, world.ports)).toMatchObject({
      scanId: 'scan-1',
      alreadyRunning: true,
    });
    await expect(startScan(startOptions({ pageSize: 7 }), redeployed, world.ports)).rejects.toThrow(
      '(pageSize differ)',
    );
  });

  it('refuses a concurrent start with other options instead of reporting the scan that won', async () => {
    const world = fakeWorld(numberedItems(10));
    const [first, second] = await Promise.allSettled([
      startScan(startOptions({ segments: 2 }), controlConfig, world.ports),
      startScan(startOptions({ segments: 3 }), controlConfig, world.ports),
    ]);
    const outcomes = [first, second].map((o) => (o.status === 'fulfilled' ? 'started' : String(o.reason)));
    expect(outcomes.sort()).toEqual([
      expect.stringMatching(/^ConflictError: Scan scan-\d is running with other options \(segments differ\)/),
      'started',
    ]);
    expect(world.store.scan?.totalSegments).toBe(first.status === 'fulfilled' ? 2 : 3);
  });

  it.each([
    ['names the key', 'pk, #n', { '#n': 'n' }, 'pk, #n', { '#n': 'n' }],
    ['names the key through a #name', '#k, n', { '#k': 'pk' }, '#k, n', { '#k': 'pk' }],
    ['lacks the key', 'n', null, 'n, #ddbscanKey0', { '#ddbscanKey0': 'pk' }],
  ])(
    'adds to a projection that %s only the key attributes it lacks',
    async (_, projection, names, recorded, recordedNames) => {
      const world = fakeWorld(numberedItems(10));
      await startScan(
        startOptions({ projectionExpression: projection, expressionNames: names }),
        controlConfig,
        world.ports,
      );
      expect(world.store.scan?.options).toMatchObject({
        projectionExpression: recorded,
        expressionNames: recordedNames,
      });
    },
  );

  it('refuses, naming the fields, a start whose options differ from the running scan, writing nothing', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    const before = JSON.stringify(world.store.scan);

    await expect(
      startScan(
        startOptions({ segments: 4, filterExpression: 'n > :n', expressionValues: { ':n': { N: '1' } } }),
        controlConfig,
        world.ports,
      ),
    ).rejects.toThrow(
      'Scan scan-1 is running with other options (segments, filter, values differ): wait for it to finish, stop it (ddbscan stop, or {"action":"stop"}), or replace it (ddbscan start --restart, or "restart": true).',
    );
    await expect(
      startScan(startOptions({ segments: 2, pageSize: 7 }), controlConfig, world.ports),
    ).rejects.toThrow(ConflictError);
    expect(JSON.stringify(world.store.scan)).toBe(before);
    expect(world.continuation.events).toHaveLength(2);
  });

  it('starts over with a new scan id when asked to restart', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    const old = shift(world);
    await runSegment(old, budget(world, 15_001), world.ports);

    const fresh = await startScan(startOptions({ restart: true }), controlConfig, world.ports);

    expect(fresh).toMatchObject({ scanId: 'scan-2', alreadyRunning: false, segments: 1 });
    expect([...world.store.segments.keys()]).toEqual([]);
    const leftover = await runSegment(old, budget(world), world.ports);
    expect(leftover).toEqual({ kind: 'stale', reason: 'the scan is no longer the current one' });
  });

  it('refuses a plain start while a scan is stopped, and says how to go on', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(startOptions(), controlConfig, world.ports);
    await stopScan(world.ports);
    await expect(startScan(startOptions(), controlConfig, world.ports)).rejects.toThrow(ConflictError);
    await expect(startScan(startOptions(), controlConfig, world.ports)).rejects.toThrow(
      'Scan scan-1 is STOPPING: resume it (ddbscan resume, or {"action":"resume"}), or start over (ddbscan start --restart, or {"action":"start","restart":true}).',
    );
  });

  it('refuses a start key with several segments', async () => {
    const world = fakeWorld(numberedItems(10));
    await expect(
      startScan(startOptions({ segments: 2, startKey: { pk: { N: '3' } } }), controlConfig, world.ports),
    ).rejects.toThrow('Invalid startKey: expected no start key when segments is more than 1');
    expect(world.store.writes).toEqual([]);
  });

  it.each(['maxItemsPerSecond', 'maxReadUnitsPerSecond'] as const)(
    'refuses a %s below one per segment, naming the field, before anything is written',
    async (field) => {
      const world = fakeWorld(numberedItems(10));

      await expect(
        startScan(startOptions({ segments: 8, [field]: 4 }), controlConfig, world.ports),
      ).rejects.toThrow(`Invalid ${field}: expected at least 1 per chain (8 chains at once), received 4.`);
      expect(world.store.writes).toEqual([]);
    },
  );

  it('turns a rejected expression into a ValidationError for the caller, writing nothing', async () => {
    const world = fakeWorld(numberedItems(10));
    const rejected = Object.assign(new Error('Invalid FilterExpression: Syntax error; token: "="'), {
      name: 'ValidationException',
    });
    world.table.failWith = new FatalScanError('Scan on Orders failed', { cause: rejected });

    const attempt = startScan(startOptions({ filterExpression: 'a = = b' }), controlConfig, world.ports);

    await expect(attempt).rejects.toThrow(ValidationError);
    await expect(
      startScan(startOptions({ filterExpression: 'a = = b' }), controlConfig, world.ports),
    ).rejects.toThrow(
      'Invalid filter: expected an input DynamoDB accepts (DynamoDB said: Invalid FilterExpression: Syntax error; token: "="), received "a = = b".',
    );
    expect(world.store.writes).toEqual([]);
  });

  it('writes nothing when the probe scan is refused', async () => {
    const world = fakeWorld(numberedItems(10));
    world.table.failWith = new FatalScanError('Scan on Orders failed: AccessDeniedException');
    await expect(startScan(startOptions(), controlConfig, world.ports)).rejects.toThrow(
      'AccessDeniedException',
    );
    expect(world.store.writes).toEqual([]);
    expect(world.continuation.events).toEqual([]);
  });

  it('marks the scan FAILED when its chains cannot be launched', async () => {
    const world = fakeWorld(numberedItems(10));
    world.continuation.failWith = new TransientError('Invoke throttled');
    await expect(startScan(startOptions(), controlConfig, world.ports)).rejects.toThrow('Invoke throttled');
    expect(world.store.scan).toMatchObject({
      state: 'FAILED',
      error: 'Could not launch the segment chains: Invoke throttled',
    });
  });

  it('completes a scan whose segments are all done before starting the next one', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(startOptions(), controlConfig, world.ports);
    await world.store.saveSegment({
      ...firstCheckpoint(world.store.scan ?? fail(), 0, 1, world.clock.now()),
      state: 'DONE',
      itemsScanned: 10,
      recordsPut: 10,
      bytesPut: 100,
    });

    expect(await startScan(startOptions(), controlConfig, world.ports)).toMatchObject({
      scanId: 'scan-2',
      alreadyRunning: false,
    });
    expect(world.events.published.map((e) => e.scanId)).toEqual(['scan-1']);
  });
});

describe('a parallel scan', () => {
  it('delivers every item once over 8 segments and publishes exactly one completion event', async () => {
    const world = fakeWorld(numberedItems(333), { pageSize: 7, msPerPage: 10_000 });
    await startScan(startOptions({ segments: 8 }), controlConfig, world.ports);
    const outcomes = await drain(world, 60_000);

    expect([...world.sink.itemIds()].sort((a, b) => a - b)).toEqual(Array.from({ length: 333 }, (_, i) => i));
    expect(outcomes.filter((o) => o.kind === 'done')).toHaveLength(8);
    expect(world.events.published).toHaveLength(1);
    expect(world.events.published[0]).toMatchObject({
      scanId: 'scan-1',
      segments: 8,
      itemsScanned: 333,
      recordsPut: 333,
    });
    expect(world.store.scan).toMatchObject({ state: 'COMPLETED', summary: { itemsScanned: 333 } });
    expect(world.store.segments.size).toBe(0);
  });

  it('runs a scan recorded by an earlier version, without shards or rate limits, to completion', async () => {
    const world = fakeWorld(numberedItems(50), { pageSize: 10 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    const stored = JSON.parse(encodeScan(world.store.scan)) as {
      scan: { streamShards?: unknown; options: Record<string, unknown> };
    };
    delete stored.scan.streamShards;
    delete stored.scan.options.maxItemsPerSecond;
    delete stored.scan.options.maxReadUnitsPerSecond;
    world.store.scan = decodeScan(JSON.stringify(stored));

    const outcomes = await drain(world);

    expect(outcomes.map((o) => o.kind)).toEqual(['done', 'done']);
    expect(world.store.scan).toMatchObject({
      state: 'COMPLETED',
      streamShards: null,
      summary: { itemsScanned: 50 },
    });
    expect(world.sink.itemIds().sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('publishes one completion event when two segments finish together', async () => {
    const world = fakeWorld(numberedItems(20), { pageSize: 100 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    const [a, b] = [shift(world), shift(world)];
    // Both finish their only page before either completes the scan.
    await Promise.all([runSegment(a, budget(world), world.ports), runSegment(b, budget(world), world.ports)]);

    expect(world.events.published).toHaveLength(1);
    expect(world.store.scan?.state).toBe('COMPLETED');
  });

  it('refuses a completion claimed by a live holder and takes over an abandoned one', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    await world.store.createClaim('completion', 'scan-1', 0, {
      holder: 'someone-else',
      at: world.clock.now(),
    });
    await drain(world);
    expect(world.store.scan?.state).toBe('RUNNING');
    expect(world.events.published).toHaveLength(0);

    world.clock.advance(controlConfig.stalledAfterMs + 1);
    const status = await getStatus(controlConfig, world.ports);

    expect(status.state).toBe('COMPLETED');
    expect(world.events.published).toHaveLength(1);
  });
});

describe('completion under faults', () => {
  it('publishes once when the finishing event is delivered twice', async () => {
    const world = fakeWorld(numberedItems(20), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    const event = shift(world);
    let duplicate: Promise<unknown> | undefined;
    world.store.afterSegmentWrite = (cp) => {
      if (cp.state === 'DONE' && duplicate === undefined)
        duplicate = runSegment(event, budget(world), world.ports);
    };
    await runSegment(event, budget(world), world.ports);
    await duplicate;

    expect(world.events.published).toHaveLength(1);
    expect(world.store.scan?.state).toBe('COMPLETED');
  });

  it('lets only one of two callers take over an abandoned completion', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    await world.store.createClaim('completion', 'scan-1', 0, { holder: 'dead', at: world.clock.now() });
    await drain(world);
    world.clock.advance(controlConfig.stalledAfterMs + 1);

    await Promise.all([getStatus(controlConfig, world.ports), getStatus(controlConfig, world.ports)]);

    expect(world.events.published).toHaveLength(1);
    expect([...world.store.claims.keys()].filter((k) => k.startsWith('completion/scan-1/')).sort()).toEqual([
      'completion/scan-1/0',
      'completion/scan-1/1',
    ]);
  });

  it('keeps a done segment done when completing fails, and completes on resume without rescanning', async () => {
    const world = fakeWorld(numberedItems(50), { pageSize: 10 });
    await startScan(startOptions(), controlConfig, world.ports);
    world.events.publishCompletion = async () => {
      throw new FatalScanError('PutEvents to default failed: AccessDeniedException');
    };
    await drain(world);
    expect(world.store.scan).toMatchObject({
      state: 'FAILED',
      error: 'PutEvents to default failed: AccessDeniedException',
    });
    expect((await world.store.loadSegment(0))?.state).toBe('DONE');

    world.events.publishCompletion = async (detail) => {
      world.events.published.push(detail);
    };
    await resumeScan(controlConfig, world.ports);
    await drain(world);

    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(world.events.published).toHaveLength(1);
    expect(world.sink.records).toHaveLength(50);
  });

  it('does not publish again when a successor finishes a completion whose event went out', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    const save = world.store.saveScan.bind(world.store);
    world.store.saveScan = async (scan) => {
      if (scan.state === 'COMPLETED') throw new TransientError('PutParameter failed: InternalServerError');
      await save(scan);
    };
    await expect(drain(world)).rejects.toThrow('InternalServerError');
    expect(world.events.published).toHaveLength(1);

    world.store.saveScan = save;
    world.clock.advance(controlConfig.stalledAfterMs + 1);
    const status = await getStatus(controlConfig, world.ports);

    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(world.events.published).toHaveLength(1);
    // The successor cannot know whether the event went out before the crash: it says so.
    expect(status.completionEvent).toBe('unknown');
  });

  it('records a published completion event as sent', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    await drain(world);

    expect(world.events.published).toHaveLength(1);
    expect(await getStatus(controlConfig, world.ports)).toMatchObject({
      state: 'COMPLETED',
      completionEvent: 'sent',
    });
  });

  it('completes without sending again when the event may have been published (no answer)', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    let sends = 0;
    world.events.publishCompletion = async () => {
      sends++;
      throw new UncertainOutcomeError('PutEvents to default got no answer');
    };
    await drain(world);

    expect(sends).toBe(1);
    expect(await getStatus(controlConfig, world.ports)).toMatchObject({
      state: 'COMPLETED',
      completionEvent: 'unknown',
    });
  });

  it('gives the event back when EventBridge refused it, so the next completer publishes it once', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    const publish = world.events.publishCompletion.bind(world.events);
    world.events.publishCompletion = async () => {
      throw new TransientError('PutEvents to default failed: InternalFailure');
    };
    await expect(drain(world)).rejects.toThrow('InternalFailure');
    expect(world.store.scan?.state).toBe('RUNNING');

    world.events.publishCompletion = publish;
    world.clock.advance(controlConfig.stalledAfterMs + 1);
    const status = await getStatus(controlConfig, world.ports);

    expect(world.events.published).toHaveLength(1);
    expect(status).toMatchObject({ state: 'COMPLETED', completionEvent: 'sent' });
  });

  it("leaves a restarted scan's checkpoints alone when the old scan completes meanwhile", async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    const old = shift(world);
    world.events.publishCompletion = async (detail) => {
      world.events.published.push(detail);
      await startScan(startOptions({ restart: true }), controlConfig, world.ports);
      shift(world); // the new scan's chain, which this test writes for by hand
      await world.store.saveSegment({
        ...firstCheckpoint(world.store.scan ?? fail(), 0, 1, world.clock.now()),
        owner: 'b',
        position: { pk: { N: '4' } },
        itemsScanned: 5,
        recordsPut: 5,
        bytesPut: 5,
      });
    };

    await runSegment(old, budget(world), world.ports);

    expect(world.store.scan).toMatchObject({ scanId: 'scan-2', state: 'RUNNING' });
    expect((await world.store.loadSegment(0))?.scanId).toBe('scan-2');
  });

  it('does not take over the completion of a stopping scan at once on resume', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    await world.store.saveSegment({
      ...firstCheckpoint(world.store.scan ?? fail(), 0, 1, world.clock.now()),
      state: 'DONE',
      itemsScanned: 10,
      recordsPut: 10,
      bytesPut: 10,
    });
    await world.store.createClaim('completion', 'scan-1', 0, {
      holder: 'still-publishing',
      at: world.clock.now(),
    });
    await world.store.saveScan({ ...(world.store.scan ?? fail()), state: 'STOPPING' });

    await resumeScan(controlConfig, world.ports);

    expect(world.events.published).toHaveLength(0);
    world.clock.advance(controlConfig.stalledAfterMs + 1);
    await getStatus(controlConfig, world.ports);
    expect(world.events.published).toHaveLength(1);
  });

  it('refuses a stop once every segment is done and the scan is completing', async () => {
    const world = fakeWorld(numberedItems(10), { pageSize: 100 });
    await startScan(startOptions(), controlConfig, world.ports);
    await world.store.createClaim('completion', 'scan-1', 0, { holder: 'finisher', at: world.clock.now() });
    await expect(stopScan(world.ports)).rejects.toThrow(
      'every segment of scan scan-1 is done and it is completing',
    );
    expect(world.store.scan?.state).toBe('RUNNING');
  });
});

describe('stop and resume', () => {
  it('stops at the next checkpoint of each segment and resumes every unfinished one from it', async () => {
    const world = fakeWorld(numberedItems(400), { pageSize: 10, msPerPage: 400 });
    await startScan(startOptions({ segments: 4 }), controlConfig, world.ports);
    const first = shift(world);
    world.store.afterSegmentWrite = (cp) => {
      if (cp.segment === first.segment && cp.itemsScanned >= 20 && world.store.scan?.state === 'RUNNING') {
        void stopScan(world.ports);
      }
    };
    const stopped = await runSegment(first, budget(world), world.ports);
    world.store.afterSegmentWrite = undefined;
    await drain(world);

    expect(stopped.kind).toBe('stopped');
    expect(world.store.scan?.state).toBe('STOPPED');
    const status = await getStatus(controlConfig, world.ports);
    expect(status).toMatchObject({ state: 'STOPPED', segments: { total: 4, stopped: 4, running: 0 } });
    const written = world.sink.itemIds().length;
    expect(written).toBeLessThan(400);

    const resumed = await resumeScan(controlConfig, world.ports);
    expect(resumed).toMatchObject({ scanId: 'scan-1', state: 'RUNNING', alreadyRunning: false });
    await drain(world);

    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(new Set(world.sink.itemIds()).size).toBe(400);
    expect(world.events.published).toHaveLength(1);
  });

  it('relaunches the stalled segments of a running scan, as after a lost hand-off', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    const first = shift(world);
    await runSegment(first, budget(world, 20_000), world.ports);
    world.continuation.events.length = 0; // both the hand-off and segment 1's first event are lost

    expect(await resumeScan(controlConfig, world.ports)).toMatchObject({
      alreadyRunning: true,
      relaunched: 0,
    });
    world.clock.advance(controlConfig.stalledAfterMs + 1);
    expect(await resumeScan(controlConfig, world.ports)).toMatchObject({
      alreadyRunning: true,
      relaunched: 2,
    });
    expect(world.continuation.events.map((e) => [e.segment, e.generation])).toEqual([
      [0, 3],
      [1, 2],
    ]);
    await drain(world);

    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(new Set(world.sink.itemIds()).size).toBe(200);
  });

  it('answers stop and resume with a clear error when there is nothing to act on', async () => {
    const world = fakeWorld(numberedItems(10));
    await expect(stopScan(world.ports)).rejects.toThrow('No scan to stop: none has run yet.');
    await expect(resumeScan(controlConfig, world.ports)).rejects.toThrow(
      'No scan to resume: none has run yet.',
    );
    expect(world.store.writes).toEqual([]);
  });

  it('resumes a failed scan once its cause is fixed', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions(), controlConfig, world.ports);
    world.table.failWith = new FatalScanError('Scan on Orders failed: AccessDeniedException');
    await drain(world);
    expect(world.store.scan).toMatchObject({
      state: 'FAILED',
      error: 'Scan on Orders failed: AccessDeniedException',
    });

    world.table.failWith = undefined;
    await resumeScan(controlConfig, world.ports);
    await drain(world);

    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(world.sink.itemIds()).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});

describe('runWatchdog', () => {
  it('does nothing while every chain is alive', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    expect(await runWatchdog(controlConfig, world.ports)).toMatchObject({ state: 'RUNNING', relaunched: 0 });
    expect(world.continuation.events).toHaveLength(2);
  });

  it('relaunches a segment whose hand-off was lost, and the scan completes', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    const lost = shift(world);
    await runSegment(lost, budget(world, 20_000), world.ports);
    world.continuation.events.splice(
      world.continuation.events.findIndex((e) => e.segment === lost.segment),
      1,
    );
    await drain(world);
    expect(world.store.scan?.state).toBe('RUNNING');

    world.clock.advance(controlConfig.stalledAfterMs + 1);
    expect(await runWatchdog(controlConfig, world.ports)).toMatchObject({ relaunched: 1 });
    await drain(world);

    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(new Set(world.sink.itemIds()).size).toBe(100);
  });

  it('fails the chain and the scan after 3 relaunches whose invocations all die without progress', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    // Chain 1 runs out of memory on its first page, every time: the invocation dies.
    const read = world.table.readPage.bind(world.table);
    let outOfMemory = true;
    world.table.readPage = async (request) => {
      if (outOfMemory && request.segment === 1)
        throw new Error('Runtime exited: signal: killed (out of memory)');
      return read(request);
    };
    const runAll = async () => {
      for (let event = world.continuation.events.shift(); event; event = world.continuation.events.shift()) {
        await runSegment(event, budget(world), world.ports).catch((error: unknown) => {
          if (!String(error).includes('out of memory')) throw error;
        });
      }
    };
    await runAll();
    const reports = [];
    for (let run = 0; run < 4; run++) {
      world.clock.advance(controlConfig.stalledAfterMs + 1);
      reports.push(await runWatchdog(controlConfig, world.ports));
      await runAll();
    }

    expect(reports.map((r) => r.relaunched)).toEqual([1, 1, 1, 1]);
    const scan = world.store.scan;
    expect(scan?.state).toBe('FAILED');
    expect(scan?.error).toBe(
      "Chain 1 (segment 1) was relaunched 3 times without moving on: each invocation ended before its next checkpoint (out of memory, the function's timeout, or a call that hangs). See the function's logs and its failed-invocations queue, fix the cause, then resume.",
    );
    expect(await world.store.loadSegment(1)).toMatchObject({ state: 'FAILED', relaunches: 0 });
    // Chain 0 was never touched, and a fixed chain 1 goes on from its checkpoint on resume.
    expect((await world.store.loadSegment(0))?.state).toBe('DONE');
    outOfMemory = false;
    await resumeScan(controlConfig, world.ports);
    await drain(world);
    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(new Set(world.sink.itemIds()).size).toBe(100);
  });

  it('counts relaunches only while the chain does not move on', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions(), controlConfig, world.ports);
    // Each invocation moves the chain on, then its hand-off event is lost: relaunched 5 times,
    // more than the limit, and never failed.
    for (let run = 0; run < 5; run++) {
      const event = shift(world);
      expect(event.relaunch).toBe(run > 0 ? true : undefined);
      await runSegment(event, budget(world, 17_000), world.ports);
      world.continuation.events.length = 0;
      world.clock.advance(controlConfig.stalledAfterMs + 1);
      expect(await runWatchdog(controlConfig, world.ports)).toMatchObject({ relaunched: 1 });
    }
    await drain(world);

    expect(world.store.scan?.state).toBe('COMPLETED');
    const counts = world.store.segmentWrites().map((w) => w.relaunches);
    expect(Math.max(...counts)).toBe(1);
    expect(counts.at(-1)).toBe(0);
  });

  it('settles a stop whose segment died before saving its checkpoint', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    await runSegment(shift(world), budget(world, 20_000), world.ports);
    world.continuation.events.length = 0;
    await stopScan(world.ports);
    world.clock.advance(controlConfig.stalledAfterMs + 1);

    expect(await runWatchdog(controlConfig, world.ports)).toMatchObject({ state: 'STOPPED', stopped: 2 });
    await resumeScan(controlConfig, world.ports);
    await drain(world);
    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(new Set(world.sink.itemIds()).size).toBe(200);
  });
});

describe('requests that name a scan', () => {
  it('refuse an id that is not the current scan, naming the field and the expected id', async () => {
    const world = fakeWorld(numberedItems(10));
    await startScan(startOptions(), controlConfig, world.ports);
    const wrong = 'scan-9';
    const expected = 'Invalid scanId: expected the current scan\'s id "scan-1", received "scan-9".';
    await expect(getStatus(controlConfig, world.ports, wrong)).rejects.toThrow(expected);
    await expect(stopScan(world.ports, wrong)).rejects.toThrow(expected);
    await expect(resumeScan(controlConfig, world.ports, wrong)).rejects.toThrow(expected);
    expect(world.store.scan?.state).toBe('RUNNING');
    expect(await getStatus(controlConfig, world.ports, 'scan-1')).toMatchObject({ scanId: 'scan-1' });
  });
});

describe('parameters this version cannot read', () => {
  it('are named by status, left alone by the watchdog and refused by resume with a way on', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    // Each chain gets one invocation; their hand-offs are lost.
    for (const event of world.continuation.events.splice(0))
      await runSegment(event, budget(world, 20_000), world.ports);
    // A newer version wrote chain 1 before a rollback.
    world.store.segments.set(1, '{"v":9,"chain":1}');
    world.continuation.events.length = 0;
    world.clock.advance(controlConfig.stalledAfterMs + 1);

    const status = await getStatus(controlConfig, world.ports);
    expect(status.unreadableParameters).toEqual(['segment/1']);
    const report = await runWatchdog(controlConfig, world.ports);
    expect(report.relaunched).toBe(1);
    expect(world.continuation.events.map((e) => e.segment)).toEqual([0]);
    expect(world.store.segments.get(1)).toBe('{"v":9,"chain":1}');

    await stopScan(world.ports);
    await drain(world);
    // Stopping: the watchdog records a dead chain STOPPED, but not one it cannot read.
    world.clock.advance(controlConfig.stalledAfterMs + 1);
    await runWatchdog(controlConfig, world.ports);
    expect(world.store.segments.get(1)).toBe('{"v":9,"chain":1}');
    const error = await resumeScan(controlConfig, world.ports).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(String(error)).toContain('segment/1');
    expect(String(error)).toContain(
      "Deleting a chain's parameter resumes that chain from its first segment.",
    );
  });

  it('do not stop a restart, which replaces them', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    world.continuation.events.length = 0;
    world.store.segments.set(1, 'written by hand');
    const unreadable = new UnreadableParameterError('/ddbscan/x/scan', 'unexpected version 9');
    world.store.loadScan = async () => {
      throw unreadable;
    };

    await expect(startScan(startOptions(), controlConfig, world.ports)).rejects.toBe(unreadable);
    await expect(getStatus(controlConfig, world.ports)).rejects.toBe(unreadable);

    const started = await startScan(startOptions({ restart: true }), controlConfig, world.ports);
    expect(world.store.segments.has(1)).toBe(false);
    world.store.loadScan = async () => world.store.scan;
    await drain(world);
    expect(await getStatus(controlConfig, world.ports)).toMatchObject({
      scanId: started.scanId,
      state: 'COMPLETED',
      itemsScanned: 30,
      unreadableParameters: [],
    });
  });
});

describe('getStatus', () => {
  it('reports IDLE before the first scan', async () => {
    const world = fakeWorld([]);
    expect(await getStatus(controlConfig, world.ports)).toMatchObject({
      scanId: null,
      state: 'IDLE',
      itemsScanned: 0,
    });
  });

  it('reports progress, rate, percent, ETA and stalled segments', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    await runSegment(shift(world), budget(world, 20_000), world.ports);
    world.clock.advance(controlConfig.stalledAfterMs + 1);

    const status = await getStatus(controlConfig, world.ports);

    expect(status).toMatchObject({ scanId: 'scan-1', state: 'RUNNING', tableItemCount: 200, handoffs: 1 });
    // Pages of 1 s, the next one read ahead: four pages were written when 5 s were used.
    expect(status.itemsScanned).toBe(40);
    expect(status.percent).toBe(20);
    expect(status.itemsPerSecond).toBeGreaterThan(0);
    expect(status.etaSeconds).toBe(Math.round(160 / status.itemsPerSecond));
    // Segment 0's checkpoint is old; segment 1 never checkpointed and the scan is that old.
    expect(status.segments).toEqual({
      total: 2,
      done: 0,
      running: 2,
      pending: 0,
      stalled: 2,
      stopped: 0,
      failed: 0,
    });
  });

  it('reports the kept summary once the scan completed', async () => {
    const world = fakeWorld(numberedItems(42), { pageSize: 10 });
    await startScan(startOptions(), controlConfig, world.ports);
    await drain(world);
    expect(await getStatus(controlConfig, world.ports)).toMatchObject({
      state: 'COMPLETED',
      itemsScanned: 42,
      recordsPut: 42,
      percent: 100,
      etaSeconds: null,
      segments: { total: 1, done: 1, running: 0, stalled: 0, stopped: 0, failed: 0 },
    });
  });

  it('counts items read, not only items matched, when a filter is set', async () => {
    const world = fakeWorld(numberedItems(40), { pageSize: 10 });
    world.table.filter = (item) => item.pk !== undefined && 'N' in item.pk && Number(item.pk.N) % 2 === 0;
    await startScan(startOptions(), controlConfig, world.ports);
    await drain(world);
    expect(await getStatus(controlConfig, world.ports)).toMatchObject({ itemsScanned: 40, recordsPut: 20 });
  });
});

describe('autoSegments', () => {
  it.each([
    [0, 'ON_DEMAND', 4, 1],
    [1_600_000_000, 'ON_DEMAND', 4, 4],
    [100_000_000_000, 'ON_DEMAND', 4, 4],
    [100_000_000_000, 'ON_DEMAND', 12, 12],
    [100_000_000_000, 'PROVISIONED', 2, 2],
    [10_000_000_000_000, 'PROVISIONED', 5000, 1000],
  ] as const)(
    'gives %d bytes on a %s stream of %d shards %d segments',
    (sizeBytes, mode, openShards, expected) => {
      expect(autoSegments({ sizeBytes }, { mode, openShards })).toBe(expected);
    },
  );
});

function fail(): never {
  throw new Error('no scan');
}

describe('listScans', () => {
  it('lists every scan newest first, as last recorded, naming the scan that replaced a running one', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    expect(await listScans(world.ports)).toEqual({ scans: [] });
    await startScan(startOptions(), controlConfig, world.ports);
    for (let event = world.continuation.events.shift(); event; event = world.continuation.events.shift()) {
      await runSegment(event, budget(world), world.ports);
    }
    world.clock.advance(1000);
    await startScan(startOptions({ segments: 2 }), controlConfig, world.ports);
    world.clock.advance(1000);
    await startScan(startOptions({ restart: true }), controlConfig, world.ports);
    await stopScan(world.ports);

    const { scans } = await listScans(world.ports);

    expect(scans.map((s) => [s.scanId, s.state, s.replacedBy])).toEqual([
      ['scan-3', 'STOPPING', null],
      ['scan-2', 'RUNNING', 'scan-3'],
      ['scan-1', 'COMPLETED', null],
    ]);
    expect(scans[2]).toMatchObject({ segments: 1, itemsScanned: 30, recordsPut: 30, error: null });
    expect(scans[1]).toMatchObject({ segments: 2, itemsScanned: null, finishedAt: null });
  });

  it('keeps the order of starts when an old scan is written after a newer one', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    await startScan(startOptions(), controlConfig, world.ports);
    const old = world.store.scan;
    world.clock.advance(1000);
    await startScan(startOptions({ restart: true }), controlConfig, world.ports);
    // A late write of the old scan lands after the new one's.
    if (old === null) throw new Error('no scan');
    world.store.writes.push({ kind: 'scan', value: { ...old, state: 'FAILED', error: 'late' } });

    const { scans } = await listScans(world.ports);

    expect(scans.map((s) => [s.scanId, s.state, s.replacedBy])).toEqual([
      ['scan-2', 'RUNNING', null],
      ['scan-1', 'FAILED', null],
    ]);
  });
});
