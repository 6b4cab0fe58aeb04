/**
 * The scanner's public contract: the events it accepts, the answers it gives, and the
 * environment variables that configure it. Shared by the construct (`lib/`), the Lambda
 * (`lambda/`) and the CLI (`bin/`), so it imports nothing.
 */

/** Environment variables read by the scanner Lambda. */
export const ScannerEnv = {
  /** Name of the table to scan. */
  tableName: 'SCANNER_TABLE_NAME',
  /** Name of the Kinesis stream that receives one record per item. */
  streamName: 'SCANNER_STREAM_NAME',
  /** Root SSM parameter: holds the scan; segment checkpoints live under `<root>/segment/<n>`. */
  parameterName: 'SCANNER_PARAMETER_NAME',
  /** Hand off to a new invocation when less than this many milliseconds remain. */
  handoffMs: 'SCANNER_HANDOFF_MS',
  /** Least time between two checkpoint writes of one segment, in milliseconds. */
  checkpointIntervalMs: 'SCANNER_CHECKPOINT_INTERVAL_MS',
  /** Scan `Limit` per page; unset means DynamoDB's 1 MB pages. */
  pageSize: 'SCANNER_PAGE_SIZE',
} as const;

/** Defaults applied when an environment variable is unset. */
export const ScannerDefaults = {
  handoffMs: 15_000,
  checkpointIntervalMs: 10_000,
} as const;

export const ScanState = {
  idle: 'IDLE',
  running: 'RUNNING',
  completed: 'COMPLETED',
  failed: 'FAILED',
} as const;
export type ScanState = (typeof ScanState)[keyof typeof ScanState];

export const SegmentState = {
  running: 'RUNNING',
  done: 'DONE',
  failed: 'FAILED',
} as const;
export type SegmentState = (typeof SegmentState)[keyof typeof SegmentState];

/** Start a scan. An empty payload (`{}`) means start too. */
export interface StartRequest {
  readonly action: 'start';
}

/** Report the progress of the current (or last) scan. */
export interface StatusRequest {
  readonly action: 'status';
}

/**
 * Internal: continue one segment's chain. Sent by `start` and at every hand-off; the
 * generation increases by one per hand-off and fences out stale or duplicate invocations.
 */
export interface SegmentEvent {
  readonly action: 'segment';
  readonly scanId: string;
  readonly segment: number;
  readonly totalSegments: number;
  readonly generation: number;
}

export type ScannerEvent = StartRequest | StatusRequest | SegmentEvent;

/** Answer to `start`. */
export interface StartResponse {
  readonly scanId: string;
  readonly state: ScanState;
  /** True when a scan was already running and this call reports it instead of starting another. */
  readonly alreadyRunning: boolean;
  readonly segments: number;
  readonly startedAt: string;
}

/** Answer to `status`. */
export interface StatusResponse {
  readonly scanId: string | null;
  readonly state: ScanState;
  readonly tableName: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly itemsScanned: number;
  readonly recordsPut: number;
  readonly bytesPut: number;
  readonly handoffs: number;
  readonly segments: {
    readonly total: number;
    readonly done: number;
    readonly running: number;
    readonly failed: number;
  };
  /** Seconds since the oldest running segment last saved its checkpoint; null when none is running. */
  readonly checkpointAgeSeconds: number | null;
  readonly error: string | null;
}

/** Metadata added to every record, next to the DynamoDB-stream-shaped fields. */
export interface ScanRecordMetadata {
  readonly scanId: string;
  readonly segment: number;
  /** When the item was read, epoch milliseconds. */
  readonly scannedAt: number;
}

/** Value of the root parameter before the first scan; the stack creates it with this value. */
export const INITIAL_ROOT_PARAMETER_VALUE = '{"v":1,"scan":null}';
