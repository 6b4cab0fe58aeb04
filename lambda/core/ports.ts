import type {
  CompletionDetail,
  CompletionEventOutcome,
  ProcessedDetail,
  ScannerMetrics,
  SegmentEvent,
} from '../contract';
import type { AttributeMap, ItemJson } from './attribute-value';
import type { AdaptiveRate } from './rate-limit';
import type { OutboundRecord } from './record-format';
import type { ScanOptions, ScanRecord, SegmentCheckpoint } from './scan-state';

/** Reads the table. */
export interface PageReader {
  describeTable(): Promise<TableDescription>;
  readPage(request: PageRequest): Promise<Page>;
}

export interface TableDescription {
  /** Key attribute names in key-schema order: partition key, then sort key. */
  readonly keyAttributes: readonly string[];
  /** Approximate, updated by DynamoDB about every six hours. */
  readonly itemCount: number;
  readonly sizeBytes: number;
}

export interface PageRequest {
  readonly segment: number;
  readonly totalSegments: number;
  readonly exclusiveStartKey: AttributeMap | null;
  readonly limit?: number;
  readonly options: ScanOptions;
}

export interface Page {
  /** Items that passed the filter, in DynamoDB's JSON form (the form a record carries). */
  readonly items: readonly ItemJson[];
  /** Items read before the filter (DynamoDB's ScannedCount). */
  readonly scannedCount: number;
  /** Absent at the end of the segment. */
  readonly lastEvaluatedKey: AttributeMap | null;
  /** Read capacity units the page consumed (ReturnConsumedCapacity); 0 when not reported. */
  readonly readUnits: number;
}

/** Writes records to the stream. */
export interface RecordSink {
  /**
   * Resolves once Kinesis accepted every record; resends failed entries until `deadline`
   * (epoch ms), then throws DeadlineError. Non-retryable errors throw FatalScanError. Sends
   * are paced by `pace`, which throttling slows down.
   */
  putRecords(
    records: readonly OutboundRecord[],
    deadline: number,
    pace?: AdaptiveRate,
    options?: PutOptions,
  ): Promise<PutSummary>;
  /** The stream's capacity mode and open shards, for choosing a segment count. */
  describeStream(): Promise<StreamDescription>;
}

export interface PutOptions {
  /**
   * Send every record's first attempt before the deadline, at once when the pace leaves no time
   * (the pace is charged for it, so later sends wait): an invocation's first page always goes,
   * so a chain always moves on.
   */
  readonly atOnce?: boolean;
  /**
   * No record's first attempt after this (epoch ms); resends of refused records go on until the
   * deadline, so the records accepted at a hand-off are as nearly as possible a prefix of the
   * page. @default the deadline
   */
  readonly sendBy?: number;
}

export interface StreamDescription {
  readonly mode: 'ON_DEMAND' | 'PROVISIONED';
  readonly openShards: number;
}

export interface PutSummary {
  readonly records: number;
  readonly bytes: number;
  /** Entry sends beyond the first: an entry that failed twice before being accepted counts twice. */
  readonly resent: number;
}

/**
 * Other chains' checkpoints one `loadScanAndSegment` read can carry: SSM's GetParameters takes
 * 10 names, and the scan, its stop request, the root parameter and the chain's own take 4.
 */
export const PEERS_PER_READ = 6;

/** Keeps the scan and the segment checkpoints. */
export interface CheckpointStore {
  /** The scan, STOPPING when it is RUNNING and a stop was requested for it. */
  loadScan(): Promise<ScanRecord | null>;
  saveScan(scan: ScanRecord): Promise<void>;
  /**
   * Every version of the scan record the store keeps (SSM: the last 100), oldest first;
   * versions this version cannot read are left out.
   */
  scanVersions(): Promise<readonly ScanRecord[]>;
  /**
   * Asks the scan to stop, in a parameter of its own: a stop never overwrites the scan, so it
   * cannot undo a completion (or a failure) that lands between its read and its write.
   */
  requestStop(scanId: string): Promise<void>;
  /** Withdraws a stop request (resume). */
  clearStop(): Promise<void>;
  /** A chain's checkpoint, by the chain's first segment. */
  loadSegment(segment: number): Promise<SegmentCheckpoint | null>;
  /**
   * The scan and a chain's checkpoint in one read (SSM reads are throttled per call), with the
   * checkpoints of up to `PEERS_PER_READ` other chains in the same read: null where there is
   * none or it cannot be read.
   */
  loadScanAndSegment(
    segment: number,
    peers?: readonly number[],
    /** A hint, not needed: read once, without waiting out throttling. */
    options?: { readonly hint?: boolean },
  ): Promise<{
    scan: ScanRecord | null;
    checkpoint: SegmentCheckpoint | null;
    peers: readonly (SegmentCheckpoint | null)[];
  }>;
  saveSegment(checkpoint: SegmentCheckpoint): Promise<void>;
  /** Every chain's checkpoint under the path, and the parameters there that cannot be read. */
  listSegments(): Promise<SegmentListing>;
  /**
   * The checkpoints of the given chains, in their order, 10 per read: null where there is none,
   * or where it cannot be read (`listSegments` reports those).
   */
  loadSegments(segments: readonly number[]): Promise<(SegmentCheckpoint | null)[]>;
  deleteSegments(segments: readonly number[]): Promise<void>;
  /**
   * Creates claim number `attempt` under `<kind>/<key>` if it does not exist yet (SSM's one
   * atomic write); true when this call created it. A takeover creates the next number.
   */
  createClaim(kind: ClaimKind, key: string, attempt: number, claim: Claim): Promise<boolean>;
  /** Gives back claim number `attempt` under `<kind>/<key>`. */
  deleteClaim(kind: ClaimKind, key: string, attempt: number): Promise<void>;
  /** The claims under `<kind>/<key>`, by attempt. */
  listClaims(kind: ClaimKind, key: string): Promise<NumberedClaim[]>;
  /** Deletes every claim of the kind, but those under `keep` when given. */
  deleteClaims(kind: ClaimKind, keep?: string): Promise<void>;
}

export interface SegmentListing {
  /** By chain. */
  readonly checkpoints: SegmentCheckpoint[];
  readonly unreadable: readonly UnreadableParameter[];
}

/** A parameter under the scanner's path that this version cannot read. */
export interface UnreadableParameter {
  readonly name: string;
  /** The chain whose checkpoint it holds, when its name says. */
  readonly chain: number | null;
  readonly reason: string;
}

/**
 * Claims make one caller win where SSM has no compare-and-swap: `completion/<scanId>` elects the
 * one completer of a scan, `start/<previous scanId>` the one start that replaces a scan.
 */
export type ClaimKind = 'completion' | 'start';

export interface Claim {
  /** The claiming invocation's token (unique per invocation). */
  readonly holder: string;
  readonly at: number;
}

export interface NumberedClaim {
  readonly attempt: number;
  readonly claim: Claim;
}

/** Announces a completed scan. */
export interface EventPublisher {
  /**
   * Publishes the completion event once. Throws UncertainOutcomeError when it may or may not
   * have been published (it is never sent again then); any other error means it was not.
   */
  publishCompletion(detail: CompletionDetail): Promise<void>;
}

/** Continues a segment in a new invocation (asynchronously). */
export interface Continuation {
  continueSegment(event: SegmentEvent): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface IdSource {
  newScanId(now: number): string;
  newOwnerToken(): string;
}

/** Structured log; Powertools Logger fits it. */
export interface Log {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
  /** Adds keys to every later line of the invocation, e.g. the scan id once it is known. */
  appendKeys(keys: Record<string, unknown>): void;
}

/** The counters the scanner publishes (names from `ScannerMetrics` in the contract). */
export type MetricName = Exclude<
  (typeof ScannerMetrics)[keyof typeof ScannerMetrics],
  'DynamoDbKinesisScanner' | 'ddbscan'
>;

/** Adds to the invocation's metrics; the handler publishes them when the invocation ends. */
export interface Metrics {
  add(name: MetricName, value: number): void;
}

/** Everything the core needs from the outside world. */
export interface ScannerPorts {
  readonly reader: PageReader;
  readonly sink: RecordSink;
  readonly store: CheckpointStore;
  readonly continuation: Continuation;
  readonly events: EventPublisher;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly log: Log;
  readonly metrics: Metrics;
  /**
   * The tracked consumers: `status` shows their progress, and a scan's completion records its
   * total for each. @default none
   */
  readonly progress?: TrackedConsumers;
}

export interface TrackedConsumers {
  readonly store: ProgressStore;
  readonly events: ProcessedEventPublisher;
  readonly consumers: readonly string[];
  /** Reads a record back from the stream for a replay; null when the stream no longer keeps it. */
  readonly stream: { readRecord(shardId: string, sequenceNumber: string): Promise<OutboundRecord | null> };
}

/** A record that failed every retry of a consumer, as its progress keeps it. */
export interface FailedRecord {
  readonly eventID: string;
  /** The item's key as typed JSON (binary as base64), read back from the stream. */
  readonly keys: Readonly<Record<string, unknown>>;
  /** When its failure was counted, epoch milliseconds. */
  readonly failedAt: number;
  /** Where the record is on the stream, to read it back for a replay while the stream keeps it. */
  readonly shardId?: string;
  readonly sequenceNumber?: string;
}

/** One consumer's counts for one scan, as the progress store holds them. */
export interface ProgressCounts {
  /** The scan's records, once its completion set it. */
  readonly total: number | null;
  readonly processed: number;
  readonly failed: number;
  /** Epoch milliseconds; null before the first count. */
  readonly firstAt: number | null;
  readonly lastAt: number | null;
  /** Who holds the right to publish "Scan Processed", and what came of it. */
  readonly event: {
    readonly holder: string;
    readonly at: number;
    readonly outcome?: CompletionEventOutcome;
  } | null;
}

/**
 * Per-consumer, per-scan progress: exact counts of distinct records. Each record id is counted
 * once, whether it is reported again (a duplicate delivery, a retried batch, a second copy the
 * scanner wrote) or by several callers at once; a failed record processed later (a replay)
 * moves from failed to processed.
 */
export interface ProgressStore {
  /** Counts these record ids as processed; returns how many were not counted as processed before. */
  markProcessed(consumer: string, scanId: string, eventIDs: readonly string[], at: number): Promise<number>;
  /** Counts these records as failed unless they are already counted; returns how many were new. */
  markFailed(
    consumer: string,
    scanId: string,
    records: readonly Omit<FailedRecord, 'failedAt'>[],
    at: number,
  ): Promise<number>;
  /** A consistent read of the counts. */
  read(consumer: string, scanId: string): Promise<ProgressCounts>;
  /** Records the scan's total (once; the same total again changes nothing). */
  setTotal(consumer: string, scanId: string, total: number): Promise<void>;
  /** Takes the right to publish "Scan Processed": true for the one caller that takes it (or took it before). */
  claimEvent(consumer: string, scanId: string, holder: string, at: number): Promise<boolean>;
  /** Records what came of publishing, or (with null) gives the right back after a refused publish. */
  settleEvent(
    consumer: string,
    scanId: string,
    holder: string,
    outcome: CompletionEventOutcome | null,
  ): Promise<void>;
  /** The records still counted as failed, oldest first, at most `limit`. */
  listFailed(consumer: string, scanId: string, limit: number): Promise<FailedRecord[]>;
}

/** Announces that a consumer has processed a scan. */
export interface ProcessedEventPublisher {
  /** As `EventPublisher.publishCompletion`: UncertainOutcomeError when it may have been published. */
  publishProcessed(detail: ProcessedDetail): Promise<void>;
}

export interface ProgressPorts {
  readonly store: ProgressStore;
  readonly events: ProcessedEventPublisher;
  readonly clock: Clock;
  readonly log: Log;
}
