import type { SegmentEvent } from '../contract';
import type { AttributeMap } from './attribute-value';
import type { OutboundRecord } from './record-format';
import type { ScanRecord, SegmentCheckpoint } from './scan-state';

/** Reads the table. */
export interface PageReader {
  /** Key attribute names in key-schema order, and the table's approximate item count. */
  describeTable(): Promise<{ readonly keyAttributes: readonly string[]; readonly itemCount: number }>;
  readPage(request: PageRequest): Promise<Page>;
}

export interface PageRequest {
  readonly segment: number;
  readonly totalSegments: number;
  readonly exclusiveStartKey: AttributeMap | null;
  readonly limit?: number;
}

export interface Page {
  readonly items: readonly AttributeMap[];
  /** Absent at the end of the segment. */
  readonly lastEvaluatedKey: AttributeMap | null;
}

/** Writes records to the stream. */
export interface RecordSink {
  /**
   * Resolves once Kinesis accepted every record; resends failed entries until `deadline`
   * (epoch ms), then throws DeadlineError. Non-retryable errors throw FatalScanError.
   */
  putRecords(records: readonly OutboundRecord[], deadline: number): Promise<PutSummary>;
}

export interface PutSummary {
  readonly records: number;
  readonly bytes: number;
  /** Entry sends beyond the first: an entry that failed twice before being accepted counts twice. */
  readonly resent: number;
}

/** Keeps the scan and the segment checkpoints. */
export interface CheckpointStore {
  loadScan(): Promise<ScanRecord | null>;
  saveScan(scan: ScanRecord): Promise<void>;
  loadSegment(segment: number): Promise<SegmentCheckpoint | null>;
  saveSegment(checkpoint: SegmentCheckpoint): Promise<void>;
  listSegments(): Promise<SegmentCheckpoint[]>;
  deleteSegments(segments: readonly number[]): Promise<void>;
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
}

/** Everything the core needs from the outside world. */
export interface ScannerPorts {
  readonly reader: PageReader;
  readonly sink: RecordSink;
  readonly store: CheckpointStore;
  readonly continuation: Continuation;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly log: Log;
}
