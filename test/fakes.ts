import type { KinesisStreamRecord } from 'aws-lambda';
import type { CompletionDetail, SegmentEvent } from '../lambda/contract';
import { type AttributeMap, toJsonMap } from '../lambda/core/attribute-value';
import { batchRecords, recordBytes } from '../lambda/core/batching';
import { DeadlineError, FatalScanError, UnreadableParameterError } from '../lambda/core/errors';
import type {
  CheckpointStore,
  Claim,
  ClaimKind,
  Clock,
  Continuation,
  EventPublisher,
  IdSource,
  Log,
  MetricName,
  Metrics,
  Page,
  PageReader,
  PageRequest,
  PutOptions,
  PutSummary,
  RecordSink,
  ScannerPorts,
  StreamDescription,
  UnreadableParameter,
} from '../lambda/core/ports';
import { PEERS_PER_READ } from '../lambda/core/ports';
import { type AdaptiveRate, shardSeconds } from '../lambda/core/rate-limit';
import type { OutboundRecord } from '../lambda/core/record-format';
import type { ControlConfig, StartOptions } from '../lambda/core/scan-control';
import {
  DEFAULT_SCAN_OPTIONS,
  decodeSegment,
  encodeSegment,
  type ScanRecord,
  type SegmentCheckpoint,
  withStopRequest,
} from '../lambda/core/scan-state';
import type { SegmentRunConfig } from '../lambda/core/segment-runner';

/** A clock that moves only when told to (or when something sleeps). */
export class FakeClock implements Clock {
  constructor(public time = 1_700_000_000_000) {}
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.time += ms;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A table of items read in key order; each page costs `msPerPage` on the clock. */
export class FakeTable implements PageReader {
  readonly requests: PageRequest[] = [];
  failWith: Error | undefined;
  constructor(
    readonly items: AttributeMap[],
    private readonly clock: FakeClock,
    private readonly options: { pageSize?: number; msPerPage?: number; keyAttributes?: string[] } = {},
  ) {}

  sizeBytes = 0;

  async describeTable() {
    return {
      keyAttributes: this.options.keyAttributes ?? ['pk'],
      itemCount: this.items.length,
      sizeBytes: this.sizeBytes,
    };
  }

  /** Applied after each page is read, like a FilterExpression. */
  filter: ((item: AttributeMap) => boolean) | undefined;

  /** Segments split the items round-robin; pages follow item order within a segment. */
  async readPage(request: PageRequest): Promise<Page> {
    this.requests.push(request);
    if (this.failWith) throw this.failWith;
    this.clock.advance(this.options.msPerPage ?? 0);
    const mine = this.items.filter((_, i) => i % request.totalSegments === request.segment);
    const after = request.exclusiveStartKey;
    const start = after === null ? 0 : mine.findIndex((item) => numberOf(item) === numberOf(after)) + 1;
    const size = request.limit ?? this.options.pageSize ?? 10;
    const read = mine.slice(start, start + size);
    const last = read.at(-1);
    return {
      // As the reader adapter hands them on: DynamoDB's JSON form.
      items: (this.filter ? read.filter(this.filter) : read).map(toJsonMap),
      scannedCount: read.length,
      lastEvaluatedKey: start + size < mine.length && last?.pk ? { pk: last.pk } : null,
      // Small items: half a read unit each, as an eventually consistent read of 4 KB.
      readUnits: read.length / 2,
    };
  }
}

function numberOf(key: AttributeMap): string {
  const pk = key.pk;
  if (pk === undefined || !('N' in pk)) throw new Error('FakeTable keys are { pk: { N } }');
  return pk.N;
}

/** Items `{ pk: { N: i } }` for i in [0, count). */
export function numberedItems(count: number): AttributeMap[] {
  return Array.from({ length: count }, (_, i) => ({ pk: { N: String(i) }, body: { S: `item ${i}` } }));
}

/** Accepts records into memory; `beforePut` can throw to simulate failures. */
export class MemorySink implements RecordSink {
  readonly records: OutboundRecord[] = [];
  beforePut: ((records: readonly OutboundRecord[]) => void) | undefined;
  stream: StreamDescription = { mode: 'ON_DEMAND', openShards: 4 };
  /** Time each putRecords call takes on the clock, when a clock is given. */
  constructor(
    private readonly clock?: FakeClock,
    private readonly msPerPut = 0,
  ) {}
  async describeStream(): Promise<StreamDescription> {
    return this.stream;
  }
  /**
   * Like the real sink: requests of at most what the pace allows, each sent when the pace (and
   * the records limit) lets it, or DeadlineError when it would not before the deadline.
   */
  async putRecords(
    records: readonly OutboundRecord[],
    deadline = Number.POSITIVE_INFINITY,
    pace?: AdaptiveRate,
    _options?: PutOptions,
  ): Promise<PutSummary> {
    // Batches go one after another, so what was accepted is always a prefix of the records.
    const accepted = { records: 0, bytes: 0 };
    for (const batch of batchRecords(records, pace?.recordsPerRequest)) {
      const units = batch.reduce((sum, r) => sum + shardSeconds(recordBytes(r)), 0);
      if (pace && (await pace.acquire(units, batch.length, deadline)) === undefined) {
        throw new DeadlineError(
          'the pace leaves no time before the deadline',
          0,
          { ...accepted, resent: 0 },
          accepted,
        );
      }
      this.beforePut?.(batch);
      this.clock?.advance(this.msPerPut);
      this.records.push(...batch);
      accepted.records += batch.length;
      accepted.bytes += batch.reduce((sum, r) => sum + recordBytes(r), 0);
    }
    return { records: records.length, bytes: records.reduce((sum, r) => sum + recordBytes(r), 0), resent: 0 };
  }
  /** The item ids (`pk` numbers) of every record written, in order. */
  itemIds(): number[] {
    return this.records.map((r) => {
      const record = JSON.parse(Buffer.from(r.data).toString('utf8')) as {
        dynamodb: { Keys: { pk: { N: string } } };
      };
      return Number(record.dynamodb.Keys.pk.N);
    });
  }
}

/** Keeps the scan and checkpoints as encoded strings, like SSM does, and logs every write. */
export class MemoryStore implements CheckpointStore {
  scan: ScanRecord | null = null;
  readonly segments = new Map<number, string>();
  readonly writes: { kind: 'scan' | 'segment' | 'delete' | 'stop'; value: unknown }[] = [];
  /** Runs after each segment write; tests use it to simulate a concurrent invocation. */
  afterSegmentWrite: ((checkpoint: SegmentCheckpoint) => void) | undefined;

  /** The scan id a stop was requested for. */
  stopRequestedFor: string | null = null;
  async loadScan() {
    return withStopRequest(this.scan, this.stopRequestedFor);
  }
  async requestStop(scanId: string) {
    this.writes.push({ kind: 'stop', value: scanId });
    this.stopRequestedFor = scanId;
  }
  async clearStop() {
    this.stopRequestedFor = null;
  }
  async saveScan(scan: ScanRecord) {
    this.writes.push({ kind: 'scan', value: scan });
    this.scan = scan;
  }
  async scanVersions() {
    return this.writes.flatMap((write) => (write.kind === 'scan' ? [write.value as ScanRecord] : []));
  }
  async loadSegment(segment: number) {
    const text = this.segments.get(segment);
    return text === undefined ? null : decodeSegment(text);
  }
  async loadScanAndSegment(
    segment: number,
    peers: readonly number[] = [],
    _options: { hint?: boolean } = {},
  ) {
    // As the SSM store: one GetParameters call takes only so many names.
    if (peers.length > PEERS_PER_READ) throw new RangeError(`${peers.length} peers in one read`);
    return {
      scan: await this.loadScan(),
      checkpoint: await this.loadSegment(segment),
      peers: await this.readable(peers),
    };
  }
  async saveSegment(checkpoint: SegmentCheckpoint) {
    const text = encodeSegment(checkpoint);
    this.writes.push({ kind: 'segment', value: checkpoint });
    this.segments.set(checkpoint.segment, text);
    this.afterSegmentWrite?.(checkpoint);
  }
  async loadSegments(segments: readonly number[]) {
    return this.readable(segments);
  }
  /** As the SSM store: a checkpoint it cannot read is none. */
  private readable(segments: readonly number[]) {
    return Promise.all(
      segments.map((segment) =>
        this.loadSegment(segment).catch((error: unknown) => {
          if (error instanceof FatalScanError) return null;
          throw error;
        }),
      ),
    );
  }
  async listSegments() {
    const checkpoints: SegmentCheckpoint[] = [];
    const unreadable: UnreadableParameter[] = [];
    for (const [chain, text] of this.segments) {
      try {
        checkpoints.push(decodeSegment(text));
      } catch (error) {
        const name = `segment/${chain}`;
        unreadable.push({ name, chain, reason: new UnreadableParameterError(name, String(error)).message });
      }
    }
    return { checkpoints: checkpoints.sort((a, b) => a.segment - b.segment), unreadable };
  }
  async deleteSegments(segments: readonly number[]) {
    this.writes.push({ kind: 'delete', value: segments });
    for (const s of segments) this.segments.delete(s);
  }
  /** Claims by `<kind>/<key>/<attempt>`. */
  readonly claims = new Map<string, Claim>();
  /** Runs before each claim is created; tests use it to interleave a competitor. */
  beforeClaim: ((kind: ClaimKind, key: string) => Promise<void>) | undefined;
  async createClaim(kind: ClaimKind, key: string, attempt: number, claim: Claim) {
    await this.beforeClaim?.(kind, key);
    const name = `${kind}/${key}/${attempt}`;
    if (this.claims.has(name)) return false;
    this.claims.set(name, claim);
    return true;
  }
  async deleteClaim(kind: ClaimKind, key: string, attempt: number) {
    this.claims.delete(`${kind}/${key}/${attempt}`);
  }
  async listClaims(kind: ClaimKind, key: string) {
    const prefix = `${kind}/${key}/`;
    return [...this.claims.entries()]
      .filter(([name]) => name.startsWith(prefix))
      .map(([name, claim]) => ({ attempt: Number(name.slice(prefix.length)), claim }))
      .sort((a, b) => a.attempt - b.attempt);
  }
  async deleteClaims(kind: ClaimKind, keep?: string) {
    for (const name of [...this.claims.keys()]) {
      if (name.startsWith(`${kind}/`) && (keep === undefined || !name.startsWith(`${kind}/${keep}/`)))
        this.claims.delete(name);
    }
  }
  segmentWrites(): SegmentCheckpoint[] {
    return this.writes.filter((w) => w.kind === 'segment').map((w) => w.value as SegmentCheckpoint);
  }
}

export class QueueContinuation implements Continuation {
  readonly events: SegmentEvent[] = [];
  failWith: Error | undefined;
  async continueSegment(event: SegmentEvent) {
    if (this.failWith) throw this.failWith;
    this.events.push(event);
  }
}

export class MemoryEvents implements EventPublisher {
  readonly published: CompletionDetail[] = [];
  async publishCompletion(detail: CompletionDetail) {
    this.published.push(detail);
  }
}

export const silentLog: Log = { info: () => {}, warn: () => {}, error: () => {}, appendKeys: () => {} };

export function sequentialIds(): IdSource {
  let scans = 0;
  let owners = 0;
  return { newScanId: () => `scan-${++scans}`, newOwnerToken: () => `owner-${++owners}` };
}

export interface FakeWorld {
  readonly clock: FakeClock;
  readonly table: FakeTable;
  readonly sink: MemorySink;
  readonly store: MemoryStore;
  readonly continuation: QueueContinuation;
  readonly events: MemoryEvents;
  readonly metrics: MemoryMetrics;
  readonly ports: ScannerPorts;
}

export function fakeWorld(
  items: AttributeMap[],
  options: { pageSize?: number; msPerPage?: number; msPerPut?: number } = {},
): FakeWorld {
  const clock = new FakeClock();
  const table = new FakeTable(items, clock, options);
  const sink = new MemorySink(clock, options.msPerPut);
  const store = new MemoryStore();
  const continuation = new QueueContinuation();
  const events = new MemoryEvents();
  const metrics = new MemoryMetrics();
  const ports: ScannerPorts = {
    reader: table,
    sink,
    store,
    continuation,
    events,
    clock,
    ids: sequentialIds(),
    log: silentLog,
    metrics,
  };
  return { clock, table, sink, store, continuation, events, metrics, ports };
}

/** Metrics kept in memory: the sum of each counter. */
export class MemoryMetrics implements Metrics {
  readonly totals: Partial<Record<MetricName, number>> = {};

  add(name: MetricName, value: number): void {
    this.totals[name] = (this.totals[name] ?? 0) + value;
  }
}

/** A start request with every option at its default. */
export function startOptions(overrides: Partial<StartOptions> = {}): StartOptions {
  return { ...DEFAULT_SCAN_OPTIONS, segments: 1, concurrency: null, restart: false, ...overrides };
}

/** A record of a Kinesis Lambda event carrying `data`. */
export function kinesisEventRecord(data: Uint8Array, sequenceNumber = '1'): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'p',
      sequenceNumber,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: 1_700_000_000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/consumer',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/scan',
  };
}

/** A chain invocation's configuration: 900 s left, the scanner's margins, overridable. */
export function runConfig(world: FakeWorld, overrides: Partial<SegmentRunConfig> = {}): SegmentRunConfig {
  return {
    deadline: world.clock.now() + 900_000,
    handoffMs: 15_000,
    checkpointIntervalMs: 10_000,
    region: 'us-east-1',
    stalledAfterMs: 960_000,
    ...overrides,
  };
}

export const controlConfig: ControlConfig = {
  tableName: 'Orders',
  defaultPageSize: null,
  defaultConcurrency: 100,
  stalledAfterMs: 960_000,
};
