import { describe, expect, it } from 'vitest';
import { type SegmentEvent, SegmentState } from '../../lambda/contract';
import { recordBytes } from '../../lambda/core/batching';
import { DeadlineError, TransientError } from '../../lambda/core/errors';
import type { PutSummary, RecordSink, ScannerPorts, StreamDescription } from '../../lambda/core/ports';
import type { AdaptiveRate } from '../../lambda/core/rate-limit';
import type { OutboundRecord } from '../../lambda/core/record-format';
import { resumeScan, type StartOptions, startScan, stopScan } from '../../lambda/core/scan-control';
import {
  decodeScan,
  decodeSegment,
  encodeScan,
  encodeSegment,
  firstCheckpoint,
  type SegmentCheckpoint,
} from '../../lambda/core/scan-state';
import { runSegment, type SegmentOutcome } from '../../lambda/core/segment-runner';
import {
  controlConfig,
  type FakeWorld,
  fakeWorld,
  MemorySink,
  numberedItems,
  runConfig,
  startOptions,
} from '../fakes';

const config = runConfig;

/** Starts a scan and returns the events of its segment chains. */
async function start(
  world: FakeWorld,
  options: Partial<StartOptions> = {},
  ports: ScannerPorts = world.ports,
): Promise<SegmentEvent[]> {
  await startScan(startOptions(options), controlConfig, ports);
  return world.continuation.events.splice(0);
}

async function startOne(
  world: FakeWorld,
  options: Partial<StartOptions> = {},
  ports: ScannerPorts = world.ports,
): Promise<SegmentEvent> {
  const [event] = await start(world, options, ports);
  if (!event) throw new Error('start launched no segment');
  return event;
}

/** The item ids (`pk` numbers) of records. */
function idsOf(records: readonly OutboundRecord[]): number[] {
  return records.map((r) => {
    const record = JSON.parse(Buffer.from(r.data).toString('utf8')) as {
      dynamodb: { Keys: { pk: { N: string } } };
    };
    return Number(record.dynamodb.Keys.pk.N);
  });
}

/** The item id of a checkpoint's position; -1 at the start. */
function positionOf(checkpoint: SegmentCheckpoint | undefined): number {
  const pk = checkpoint?.position?.pk;
  return pk !== undefined && 'N' in pk ? Number(pk.N) : -1;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Lets every promise that can move on do so (no timer involved: the fakes only chain promises). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface PutCall {
  readonly records: readonly OutboundRecord[];
  settled: boolean;
  accept(): void;
  refuse(error: Error): void;
}

/** A sink whose every putRecords call waits until the test accepts or refuses it. */
class GatedSink implements RecordSink {
  readonly calls: PutCall[] = [];
  readonly accepted: OutboundRecord[] = [];
  maxPending = 0;

  async describeStream(): Promise<StreamDescription> {
    return { mode: 'ON_DEMAND', openShards: 4 };
  }

  putRecords(records: readonly OutboundRecord[]): Promise<PutSummary> {
    return new Promise((resolve, reject) => {
      const call: PutCall = {
        records,
        settled: false,
        accept: () => {
          call.settled = true;
          this.accepted.push(...records);
          resolve({
            records: records.length,
            bytes: records.reduce((sum, r) => sum + recordBytes(r), 0),
            resent: 0,
          });
        },
        refuse: (error) => {
          call.settled = true;
          reject(error);
        },
      };
      this.calls.push(call);
      this.maxPending = Math.max(this.maxPending, this.pending().length);
    });
  }

  pending(): PutCall[] {
    return this.calls.filter((call) => !call.settled);
  }
}

function gatedWorld(count: number): { world: FakeWorld; sink: GatedSink; ports: ScannerPorts } {
  const world = fakeWorld(numberedItems(count), { pageSize: 10 });
  const sink = new GatedSink();
  return { world, sink, ports: { ...world.ports, sink } };
}

/**
 * Runs an invocation against a GatedSink: whenever it waits on its writes, `step` answers
 * some of them. Throws if the invocation waits on nothing the test can answer.
 */
async function drive(
  run: Promise<SegmentOutcome>,
  sink: GatedSink,
  step: (pending: PutCall[]) => void | Promise<void> = (pending) => pending[0]?.accept(),
): Promise<SegmentOutcome> {
  let finished = false;
  run.then(
    () => {
      finished = true;
    },
    () => {
      finished = true;
    },
  );
  for (let round = 0; round < 1000; round++) {
    await settle();
    if (finished) return run;
    const pending = sink.pending();
    if (pending.length === 0) throw new Error('the invocation waits, but not on a write');
    await step(pending);
  }
  throw new Error('the invocation did not end');
}

/** A MemorySink that keeps the pace each call was given. */
class PaceRecordingSink extends MemorySink {
  readonly paces: (AdaptiveRate | undefined)[] = [];
  override async putRecords(
    records: readonly OutboundRecord[],
    _deadline?: number,
    pace?: AdaptiveRate,
  ): Promise<PutSummary> {
    this.paces.push(pace);
    return super.putRecords(records);
  }
}

/**
 * A scan of 4 chains on 4 shards whose chains 1 to 3 finish (DONE) just after chain 0's first
 * checkpoint, for a test that runs chain 0 with the sink's paces recorded.
 */
async function othersFinishAfterClaim(items: number) {
  const world = fakeWorld(numberedItems(items), { pageSize: 10 });
  const sink = new PaceRecordingSink(world.clock, 100);
  sink.stream = { mode: 'PROVISIONED', openShards: 4 };
  const ports = { ...world.ports, sink };
  const [first, ...others] = await start(world, { segments: 4 }, ports);
  if (first === undefined) throw new Error('no segment');
  world.store.afterSegmentWrite = (checkpoint) => {
    world.store.afterSegmentWrite = undefined;
    const scan = world.store.scan;
    if (scan === null || checkpoint.segment !== first.segment) throw new Error('unexpected write');
    for (const { segment } of others) {
      const done = { ...firstCheckpoint(scan, segment, 0, world.clock.now()), state: SegmentState.done };
      world.store.segments.set(segment, encodeSegment(done));
    }
  };
  return { world, sink, ports, first };
}

describe('throughput limits', () => {
  it("sends each running chain's records at no more than its share of maxItemsPerSecond", async () => {
    const world = fakeWorld(numberedItems(400), { pageSize: 10 });
    const events = await start(world, { segments: 2, maxItemsPerSecond: 100 });
    expect(events).toHaveLength(2);

    // The first chain shares the limit with the second, not yet done: 50 records a second. The
    // second runs once the first is done, and has the limit to itself.
    for (const [event, rate] of [
      [events[0], 50],
      [events[1], 100],
    ] as const) {
      if (event === undefined) throw new Error('no segment');
      const startedAt = world.clock.now();
      const sends: { at: number; records: number }[] = [];
      world.sink.beforePut = (records) => {
        sends.push({ at: world.clock.now() - startedAt, records: records.length });
      };
      const outcome = await runSegment(event, config(world), world.ports);

      expect(outcome).toMatchObject({ kind: 'done', itemsScanned: 200 });
      // Only a fifth of a second's worth goes at once, and a page may leave the budget a page
      // (10) in debt: at 50 a second, 180 records wait, 3.6 s; at 100, 170 wait, 1.7 s.
      const burst = rate / 5;
      const elapsed = world.clock.now() - startedAt;
      expect(elapsed).toBeGreaterThanOrEqual(((200 - burst - 10) / rate) * 1000);
      expect(elapsed).toBeLessThanOrEqual((200 / rate) * 1000);
      let sent = 0;
      for (const send of sends) {
        sent += send.records;
        expect(sent).toBeLessThanOrEqual((rate * send.at) / 1000 + burst + 10);
      }
    }
    expect(world.store.scan?.state).toBe('COMPLETED');
    expect(world.sink.itemIds().sort((a, b) => a - b)).toEqual(range(0, 400));
  });

  it('paces reads by the read units the pages consumed', async () => {
    // Read units as reported by ReturnConsumedCapacity: FakeTable's half a unit per item, or
    // a whole unit per item (as for strongly consistent reads).
    const elapsedFor = async (unitsPerItem: number) => {
      const world = fakeWorld(numberedItems(400), { pageSize: 10 });
      // Pages of 10: the read limit alone would allow pages of 10 s of its rate.
      const events = await start(world, { segments: 2, maxReadUnitsPerSecond: 20, pageSize: 10 });
      const read = world.table.readPage.bind(world.table);
      const reads: { at: number; units: number }[] = [];
      const startedAt = world.clock.now();
      world.table.readPage = async (request) => {
        const page = await read(request);
        reads.push({ at: world.clock.now() - startedAt, units: page.scannedCount * unitsPerItem });
        return { ...page, readUnits: page.scannedCount * unitsPerItem };
      };
      const [event] = events;
      if (!event) throw new Error('no segment');
      expect(await runSegment(event, config(world), world.ports)).toMatchObject({ kind: 'done' });

      // Each read waits while the units already spent exceed 10 a second (the segment's share),
      // a fifth of a second's worth and one page.
      let spent = 0;
      for (const r of reads) {
        expect(spent).toBeLessThanOrEqual((10 * r.at) / 1000 + 2 + 10 * unitsPerItem);
        spent += r.units;
      }
      return world.clock.now() - startedAt;
    };

    // 200 items: 100 units at 10 a second less the burst (2) and the last page's debt (5).
    const halfUnits = await elapsedFor(0.5);
    expect(halfUnits).toBeGreaterThanOrEqual(9300);
    expect(halfUnits).toBeLessThanOrEqual(10_000);
    // 200 units: twice as long.
    const wholeUnits = await elapsedFor(1);
    expect(wholeUnits).toBeGreaterThanOrEqual(18_800);
    expect(wholeUnits).toBeLessThanOrEqual(20_000);
  });

  it.each([
    ['without limits', {}],
    [
      'with limits far above what it reaches',
      { maxItemsPerSecond: 10_000_000, maxReadUnitsPerSecond: 10_000_000 },
    ],
  ])('waits on the clock only for reads and writes %s', async (_, limits) => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10, msPerPage: 100, msPerPut: 50 });
    const event = await startOne(world, limits);
    const startedAt = world.clock.now();

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome).toMatchObject({ kind: 'done', itemsScanned: 100 });
    // 10 pages of 100 ms to read and 50 ms to write, nothing more.
    expect(world.clock.now() - startedAt).toBe(10 * 100 + 10 * 50);
  });

  it("starts each chain's writes at its share of the stream's shards among the chains still running", async () => {
    const world = fakeWorld(numberedItems(60), { pageSize: 10 });
    const sink = new PaceRecordingSink(world.clock);
    sink.stream = { mode: 'PROVISIONED', openShards: 6 };
    const ports = { ...world.ports, sink };
    const events = await start(world, { segments: 3 }, ports);

    // The chains run one after the other: 6 shards over 3 running chains, then over the 2 not
    // done, then the last alone. Each pace is the same for every write of the invocation, so
    // throttling slows all of them.
    const paces: number[] = [];
    for (const event of events) {
      sink.paces.length = 0;
      await runSegment(event, config(world), ports);
      expect(sink.paces).toHaveLength(2);
      expect(new Set(sink.paces).size).toBe(1);
      paces.push(sink.paces[0]?.pace ?? 0);
    }
    expect(paces).toEqual([2, 3, 6]);
  });

  it('raises its pace at its next checkpoint when the other chains finish meanwhile', async () => {
    const { world, sink, ports, first } = await othersFinishAfterClaim(400);
    const paces: number[] = [];
    sink.beforePut = () => paces.push(sink.paces.at(-1)?.pace ?? 0);

    const outcome = await runSegment(first, config(world, { checkpointIntervalMs: 300 }), ports);

    expect(outcome).toMatchObject({ kind: 'done', scanCompleted: true, itemsScanned: 100 });
    // 4 shards over 4 chains, then all 4 to the one left, from its first cadence checkpoint on.
    expect(paces[0]).toBe(1);
    expect(paces.at(-1)).toBe(4);
    expect(new Set(paces)).toEqual(new Set([1, 4]));
  });

  it('reads the other chains between its checkpoints, and takes up their share within seconds', async () => {
    const { world, sink, ports, first } = await othersFinishAfterClaim(8000);
    const startedAt = world.clock.now();
    const paces: { at: number; pace: number }[] = [];
    sink.beforePut = () =>
      paces.push({ at: world.clock.now() - startedAt, pace: sink.paces.at(-1)?.pace ?? 0 });
    const load = world.store.loadScanAndSegment.bind(world.store);
    let reads = 0;
    world.store.loadScanAndSegment = (segment, peers) => {
      reads++;
      return load(segment, peers);
    };

    // A later invocation (no early checkpoints), checkpoints every 10 s, 20 s of pages: the peers'
    // DONE is seen by a read between them.
    await runSegment({ ...first, generation: 2 }, config(world, { checkpointIntervalMs: 10_000 }), ports);

    const alone = paces.find((p) => p.pace === 4);
    expect(alone?.at).toBeLessThanOrEqual(2_500);
    // The claim's read, the checkpoints', and one read of the peers every 2 s (4 chains) until
    // they were seen done: far below one a page.
    expect(reads).toBeLessThanOrEqual(1 + world.store.segmentWrites().length + 2);
  });

  it('shares the limits among all chains of a resumed scan, whose stopped checkpoints are not done', async () => {
    const world = fakeWorld(numberedItems(90), { pageSize: 10 });
    const sink = new PaceRecordingSink(world.clock);
    const ports = { ...world.ports, sink };
    const started = await start(world, { segments: 3, maxItemsPerSecond: 90 }, ports);
    await stopScan(ports);
    for (const event of started)
      expect(await runSegment(event, config(world), ports)).toMatchObject({ kind: 'stale' });
    expect(world.store.scan?.state).toBe('STOPPED');
    await resumeScan(controlConfig, ports);
    const resumed = world.continuation.events.splice(0);
    expect(resumed).toHaveLength(3);

    // The other two chains' checkpoints still say STOPPED when the first resumed chain starts.
    const [first] = resumed;
    if (first === undefined) throw new Error('no segment');
    await runSegment(first, config(world), ports);
    expect(sink.paces[0]?.recordsPerSecond).toBe(30);
  });

  it.each([
    ['a scan of 8 chains, more than one read carries', 8, true],
    ['DONE checkpoints of an earlier scan', 3, false],
  ])('keeps its share of every chain in %s', async (_, chains, sameScan) => {
    const world = fakeWorld(numberedItems(80), { pageSize: 10 });
    const sink = new PaceRecordingSink(world.clock);
    sink.stream = { mode: 'PROVISIONED', openShards: 24 };
    const ports = { ...world.ports, sink };
    const [first, ...others] = await start(world, { segments: chains }, ports);
    const scan = world.store.scan;
    if (first === undefined || scan === null) throw new Error('no segment');
    for (const { segment } of others) {
      const checkpoint = firstCheckpoint(scan, segment, 0, world.clock.now());
      world.store.segments.set(
        segment,
        encodeSegment({
          ...checkpoint,
          state: SegmentState.done,
          scanId: sameScan ? scan.scanId : 'an-earlier-scan',
        }),
      );
    }

    await runSegment(first, config(world, { checkpointIntervalMs: 0 }), ports);

    expect(new Set(sink.paces.map((pace) => pace?.pace))).toEqual(new Set([24 / chains]));
  });

  it('writes unpaced and unlimited for a scan recorded before shards and limits were kept', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    const sink = new PaceRecordingSink(world.clock);
    const ports = { ...world.ports, sink };
    const event = await startOne(world, { maxItemsPerSecond: 1 }, ports);
    const current = JSON.parse(encodeScan(world.store.scan)) as {
      scan: { streamShards?: unknown; options: Record<string, unknown> };
    };
    delete current.scan.streamShards;
    delete current.scan.options.maxItemsPerSecond;
    delete current.scan.options.maxReadUnitsPerSecond;
    world.store.scan = decodeScan(JSON.stringify(current));
    const startedAt = world.clock.now();

    const outcome = await runSegment(event, config(world), ports);

    expect(outcome).toMatchObject({ kind: 'done', scanCompleted: true, itemsScanned: 30 });
    expect(sink.paces.map((pace) => pace?.pace)).toEqual([Infinity, Infinity, Infinity]);
    expect(world.clock.now()).toBe(startedAt);
  });
});

describe('writes in flight', () => {
  it("writes the first page alone and saves its checkpoint before the second page's records are sent", async () => {
    const { world, sink, ports } = gatedWorld(100);
    const event = await startOne(world, {}, ports);
    const save = world.store.saveSegment.bind(world.store);
    let openCheckpoint: (() => void) | undefined;
    world.store.saveSegment = async (checkpoint) => {
      if (checkpoint.itemsScanned === 10 && checkpoint.state === 'RUNNING') {
        await new Promise<void>((resolve) => {
          openCheckpoint = resolve;
        });
      }
      await save(checkpoint);
    };
    const run = runSegment(event, config(world), ports);

    await settle();
    // The second page was read ahead, but only the first is being written.
    expect(sink.calls).toHaveLength(1);
    expect(world.table.requests.length).toBeGreaterThanOrEqual(3); // the probe and two pages
    sink.calls[0]?.accept();
    await settle();
    // The first page's checkpoint is being written: nothing more is sent until it is saved.
    expect(openCheckpoint).toBeDefined();
    expect(sink.calls).toHaveLength(1);
    openCheckpoint?.();
    await settle();
    // Then the second and third pages go together.
    expect(sink.calls).toHaveLength(3);
    expect(idsOf(sink.calls[1]?.records ?? [])).toEqual(range(10, 20));
    const writes = world.store.segmentWrites();
    // The first page's checkpoint is the invocation's first write: it claims the chain.
    expect(writes.map((cp) => [cp.itemsScanned, positionOf(cp)])).toEqual([[10, 9]]);
    expect(writes[0]?.owner).not.toBeNull();

    expect(await drive(run, sink)).toMatchObject({ kind: 'done', scanCompleted: true, itemsScanned: 100 });
    expect(idsOf(sink.accepted)).toEqual(range(0, 100));
  });

  it("keeps at most two pages' writes in flight and moves past them in order", async () => {
    const { world, sink, ports } = gatedWorld(100);
    const event = await startOne(world, {}, ports);
    const inFlight: number[] = [];

    const outcome = await drive(runSegment(event, config(world), ports), sink, async (pending) => {
      inFlight.push(pending.length);
      const [older, newer] = pending;
      if (newer !== undefined) {
        // The newer page is accepted first: the older one still holds back the next page.
        const calls = sink.calls.length;
        newer.accept();
        await settle();
        expect(sink.calls).toHaveLength(calls);
      }
      older?.accept();
    });

    expect(outcome).toMatchObject({ kind: 'done', scanCompleted: true, itemsScanned: 100 });
    expect(sink.maxPending).toBe(2);
    expect(inFlight[0]).toBe(1);
    expect(Math.max(...inFlight)).toBe(2);
    expect(idsOf(sink.accepted).sort((a, b) => a - b)).toEqual(range(0, 100));
  });

  it.each([
    ['the second page in flight fails while the first is fine', 2, 19],
    ['the first page in flight fails while the second is fine', 1, 9],
  ])('never checkpoints past a page that was not accepted: %s', async (_, failing, position) => {
    const { world, sink, ports } = gatedWorld(100);
    const event = await startOne(world, {}, ports);

    const outcome = await drive(runSegment(event, config(world), ports), sink, (pending) => {
      for (const call of pending) {
        if (call === sink.calls[failing]) call.refuse(new DeadlineError('out of time', 5));
        else call.accept();
      }
    });

    expect(outcome).toEqual({ kind: 'handed-off', generation: 2, itemsScanned: position + 1 });
    const checkpoint = await world.store.loadSegment(0);
    expect(positionOf(checkpoint ?? undefined)).toBe(position);
    expect(checkpoint).toMatchObject({ itemsScanned: position + 1, recordsPut: position + 1 });
    const accepted = new Set(idsOf(sink.accepted));
    for (const write of world.store.segmentWrites()) {
      expect(range(0, positionOf(write) + 1).every((id) => accepted.has(id))).toBe(true);
    }

    // The next generation writes the refused page again, and the rest.
    const next = world.continuation.events.shift();
    expect(next).toEqual({ ...event, generation: 2, from: expect.any(String) });
    if (!next) return;
    expect(await drive(runSegment(next, config(world), ports), sink)).toMatchObject({
      kind: 'done',
      scanCompleted: true,
    });
    expect([...new Set(idsOf(sink.accepted))].sort((a, b) => a - b)).toEqual(range(0, 100));
  });

  it('sends at most one more page once a checkpoint finds that a duplicate took the segment over', async () => {
    const world = fakeWorld(numberedItems(200), { pageSize: 10, msPerPage: 1000 });
    const event = await startOne(world);
    let puts = 0;
    world.sink.beforePut = () => {
      if (++puts !== 6) return;
      // A duplicate invocation claims the segment while the sixth page is sent.
      const text = world.store.segments.get(0);
      if (text !== undefined) void world.store.saveSegment({ ...decodeSegment(text), owner: 'duplicate' });
    };
    const load = world.store.loadSegment.bind(world.store);
    let sentWhenFound: number | undefined;
    world.store.loadSegment = async (segment) => {
      const checkpoint = await load(segment);
      if (checkpoint?.owner === 'duplicate') sentWhenFound ??= world.sink.records.length;
      return checkpoint;
    };

    const outcome = await runSegment(event, config(world, { checkpointIntervalMs: 3000 }), world.ports);

    expect(outcome).toEqual({ kind: 'stale', reason: 'generation 1 was superseded' });
    expect(sentWhenFound).toBeDefined();
    expect(world.sink.records.length - (sentWhenFound ?? 0)).toBeLessThanOrEqual(10);
    // A checkpoint is due every 3 pages: the takeover (at the sixth) is found within three more,
    // and at most one page goes after that.
    expect(world.sink.records.length).toBeLessThanOrEqual(60 + 30 + 10);
    // Nothing the stale invocation wrote landed after the duplicate's claim.
    expect(world.store.segmentWrites().at(-1)?.owner).toBe('duplicate');
  });
});

describe('metrics of a segment', () => {
  it('add up to the items, records, checkpoints and hand-offs of a whole chain', async () => {
    const world = fakeWorld(numberedItems(300), { pageSize: 10, msPerPage: 10_000 });
    const outcomes: SegmentOutcome[] = [];
    for (let event: SegmentEvent | undefined = await startOne(world); event; ) {
      outcomes.push(
        await runSegment(event, config(world, { deadline: world.clock.now() + 60_000 }), world.ports),
      );
      event = world.continuation.events.shift();
    }

    const handOffs = outcomes.filter((o) => o.kind === 'handed-off').length;
    expect(handOffs).toBeGreaterThanOrEqual(2);
    expect(outcomes.at(-1)).toMatchObject({ kind: 'done', scanCompleted: true });
    const summary = world.store.scan?.summary;
    expect(world.metrics.totals).toMatchObject({
      ItemsScanned: 300,
      RecordsPut: 300,
      BytesPut: summary?.bytesPut,
      RecordsThrottled: 0,
      HandOffs: handOffs,
    });
    expect(summary?.handoffs).toBe(handOffs);
    // Every invocation checkpoints its first page and then hands off or finishes.
    const checkpoints = world.metrics.totals.CheckpointWrites ?? 0;
    expect(checkpoints).toBeGreaterThanOrEqual(2 * outcomes.length);
    // Every segment write counts: the claims, the cadence, the hand-offs and the final DONE.
    expect(checkpoints).toBe(world.store.segmentWrites().length);
  });
});

describe('metrics of a page that ran out of time', () => {
  it('still count the records Kinesis accepted of it', async () => {
    const world = fakeWorld(numberedItems(30), { pageSize: 10 });
    const event = await startOne(world);
    let puts = 0;
    world.sink.beforePut = () => {
      if (++puts === 2) throw new DeadlineError('out of time', 1, { records: 4, bytes: 400, resent: 9 });
    };

    const outcome = await runSegment(event, config(world), world.ports);

    expect(outcome.kind).toBe('handed-off');
    // Pages 1 and 3 (in flight beside page 2, so written though abandoned), and the 4 records
    // of page 2 that got through before time ran out.
    expect(world.metrics.totals.RecordsPut).toBe(24);
    expect(world.metrics.totals.RecordsThrottled).toBe(9);
  });
});

describe('the invocation deadline', () => {
  it('hands off rather than wait for a rate limit past the hand-off margin', async () => {
    const world = fakeWorld(numberedItems(1000), { pageSize: 100 });
    const event = await startOne(world, { maxItemsPerSecond: 1 });
    const deadline = world.clock.now() + 60_000;
    const putAt: number[] = [];
    world.sink.beforePut = () => putAt.push(world.clock.now());

    const outcome = await runSegment(event, config(world, { deadline }), world.ports);

    expect(outcome.kind).toBe('handed-off');
    expect(putAt.length).toBeGreaterThan(0);
    // The writes may use half the hand-off margin; the rest is the hand-off's.
    for (const at of putAt) expect(at).toBeLessThanOrEqual(deadline - 7_500);
    // At one item a second, pages shrink to 10 s of the rate rather than stay 100 items long.
    expect(world.sink.records.length).toBeLessThanOrEqual(60);
  });

  it('stops reading, and hands off, when the read budget cannot pay for a page before the hand-off', async () => {
    const world = fakeWorld(numberedItems(2000), { pageSize: 10 });
    const event = await startOne(world, { maxReadUnitsPerSecond: 10, pageSize: 10 });
    const startedAt = world.clock.now();
    let units = 0;
    const read = world.table.readPage.bind(world.table);
    world.table.readPage = async (request) => {
      const page = await read(request);
      units += page.readUnits;
      return page;
    };

    const outcome = await runSegment(event, config(world, { deadline: startedAt + 60_000 }), world.ports);

    expect(outcome.kind).toBe('handed-off');
    // 10 units a second until the hand-off at 45 s, a fifth of a second saved and a page or two
    // (5 units each) in debt: not the whole table, read as fast as it is written.
    expect(units).toBeLessThanOrEqual(10 * 45 + 2 + 2 * 5);
    expect(world.clock.now() - startedAt).toBeLessThanOrEqual(45_000);
  });

  it('lets a checkpoint being written land before the invocation fails', async () => {
    const world = fakeWorld(numberedItems(100), { pageSize: 10 });
    const event = await startOne(world);
    const order: string[] = [];
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const store = Object.create(world.store) as typeof world.store;
    store.saveSegment = async (checkpoint) => {
      if (checkpoint.itemsScanned === 10) {
        await gate;
        await world.store.saveSegment(checkpoint);
        order.push('checkpoint saved');
        return;
      }
      await world.store.saveSegment(checkpoint);
    };
    let reads = 0;
    const reader = Object.create(world.table) as typeof world.table;
    reader.readPage = async (request) => {
      if (++reads === 2) throw new TransientError('Scan throttled through every retry');
      return world.table.readPage(request);
    };

    const run = runSegment(event, config(world), { ...world.ports, store, reader }).then(
      () => order.push('resolved'),
      () => order.push('failed'),
    );
    await settle();
    expect(order).toEqual([]);
    open();
    await run;

    // Lambda's retry must not be superseded by a write of the invocation it replaces.
    expect(order).toEqual(['checkpoint saved', 'failed']);
  });
});
