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
  /**
   * Root SSM parameter: holds the scan; each chain's checkpoint lives under `<root>/segment/<n>`,
   * where n is the chain's first segment.
   */
  parameterName: 'SCANNER_PARAMETER_NAME',
  /** Hand off to a new invocation when less than this many milliseconds remain. */
  handoffMs: 'SCANNER_HANDOFF_MS',
  /**
   * Time between two checkpoint writes of one chain, in milliseconds; a chain's first invocation
   * checkpoints sooner at first (after 1, 2, 4 and 8 s, within its turns of the write budget).
   */
  checkpointIntervalMs: 'SCANNER_CHECKPOINT_INTERVAL_MS',
  /**
   * SSM writes per second that all chains of a scan share (SSM takes about 3 PutParameter calls
   * a second per account): each chain writes in its own turns, once per `chains / this` seconds. Unset: no
   * sharing, the checkpoint interval alone.
   */
  checkpointWritesPerSecond: 'SCANNER_CHECKPOINT_WRITES_PER_SECOND',
  /** Chains a start runs at once when its request names no `concurrency`. */
  concurrency: 'SCANNER_CONCURRENCY',
  /** Scan `Limit` per page; unset means DynamoDB's 1 MB pages. A start option overrides it. */
  pageSize: 'SCANNER_PAGE_SIZE',
  /** EventBridge bus that receives one "Scan Completed" event per scan. */
  eventBusName: 'SCANNER_EVENT_BUS_NAME',
  /** A running segment whose checkpoint is older than this is reported as stalled. */
  stalledAfterMs: 'SCANNER_STALLED_AFTER_MS',
  /** The consumers' progress table, read by `status`; unset when no consumer is tracked. */
  progressTable: 'SCANNER_PROGRESS_TABLE',
  /** The tracked consumers' names, as a JSON array of strings. */
  consumers: 'SCANNER_CONSUMERS',
} as const;

/** Environment variables read by the example consumer. */
export const ConsumerEnv = {
  /** DynamoDB table of the idempotency records (partition key `id`, TTL attribute `expiration`). */
  idempotencyTable: 'CONSUMER_IDEMPOTENCY_TABLE',
  /**
   * The progress table (partition key `pk`, sort key `sk`, TTL attribute `expiresAt`): set, the
   * consumer counts the records it processed per scan. Unset, it counts nothing.
   */
  progressTable: 'CONSUMER_PROGRESS_TABLE',
  /** The consumer's name in its progress and in "Scan Processed". @default AWS_LAMBDA_FUNCTION_NAME */
  consumerName: 'CONSUMER_NAME',
  /** EventBridge bus that receives "Scan Processed". @default 'default' */
  eventBusName: 'CONSUMER_EVENT_BUS_NAME',
} as const;

/**
 * Environment variables read by the progress function: it sets each tracked consumer's total
 * from "Scan Completed" and counts the records of batches that failed every retry.
 */
export const ProgressEnv = {
  progressTable: 'PROGRESS_TABLE',
  /** The tracked consumers, as a JSON array of `{ "name": …, "failureQueueArn": … }`. */
  consumers: 'PROGRESS_CONSUMERS',
  /** The stream, read back for the records of a failed batch. */
  streamName: 'PROGRESS_STREAM_NAME',
  /** EventBridge bus that receives "Scan Processed". */
  eventBusName: 'PROGRESS_EVENT_BUS_NAME',
} as const;

/** Defaults applied when an environment variable is unset. */
export const ScannerDefaults = {
  handoffMs: 15_000,
  checkpointIntervalMs: 10_000,
  /** What the construct sets: 2 of SSM's default 3 PutParameter calls a second. */
  checkpointWritesPerSecond: 2,
  eventBusName: 'default',
  /** The function's 900 s timeout plus a minute. */
  stalledAfterMs: 960_000,
  /** Chains per scan: a tenth of a default account's 1,000 concurrent executions. */
  concurrency: 100,
} as const;

/**
 * CloudWatch metrics the scanner emits in EMF (Powertools Metrics). Every metric carries the
 * dimensions `service` (= `service` below) and `FunctionName` (the scanner function's name), so
 * the construct's alarms and dashboard select one scanner.
 */
export const ScannerMetrics = {
  namespace: 'DynamoDbKinesisScanner',
  service: 'ddbscan',
  /** Items read from the table (Count), per page. */
  itemsScanned: 'ItemsScanned',
  /** Records accepted by Kinesis (Count). */
  recordsPut: 'RecordsPut',
  /** Bytes of data and partition keys accepted by Kinesis (Bytes). */
  bytesPut: 'BytesPut',
  /** Records Kinesis refused (throttled or InternalFailure) and the scanner resent (Count). */
  recordsThrottled: 'RecordsThrottled',
  /** Segment checkpoint writes to SSM (Count). */
  checkpointWrites: 'CheckpointWrites',
  /** Hand-offs to a new invocation (Count). */
  handOffs: 'HandOffs',
  /** Segments the watchdog found stalled and relaunched (Count). */
  segmentsStalled: 'SegmentsStalled',
  /** Scans that ended FAILED (Count). */
  scansFailed: 'ScansFailed',
  /** From start to completion, at completion (Seconds). */
  scanDuration: 'ScanDuration',
} as const;

/**
 * What the failure counter of tracked consumers emits in EMF: namespace and service as the
 * scanner's, and the dimension `Consumer` (the consumer's name).
 */
export const ConsumerMetrics = {
  /** Records newly counted as failed every retry of the consumer (Count). */
  recordsFailed: 'ConsumerRecordsFailed',
  /** Records newly counted as processed by the consumer (Count), emitted by the consumer itself. */
  recordsProcessed: 'ConsumerRecordsProcessed',
  consumerDimension: 'Consumer',
} as const;

/** Parallel scan: Segment and TotalSegments up to 1,000,000. */
export const MAX_SEGMENTS = 1_000_000;
/**
 * Chains that run at once, at most: each takes one concurrent execution (two while handing
 * off) of the account's 1,000 by default.
 */
export const MAX_CONCURRENCY = 1000;

export const ScanState = {
  idle: 'IDLE',
  running: 'RUNNING',
  stopping: 'STOPPING',
  stopped: 'STOPPED',
  completed: 'COMPLETED',
  failed: 'FAILED',
} as const;
export type ScanState = (typeof ScanState)[keyof typeof ScanState];

export const SegmentState = {
  running: 'RUNNING',
  stopped: 'STOPPED',
  done: 'DONE',
  failed: 'FAILED',
} as const;
export type SegmentState = (typeof SegmentState)[keyof typeof SegmentState];

export const RecordFormat = {
  /** The Kinesis Data Streams for DynamoDB record: typed attribute values, lossless. */
  dynamodbStream: 'dynamodb-stream',
  /** The plain item as JSON: numbers as JSON numbers, sets as arrays, binary as base64. */
  item: 'item',
} as const;
export type RecordFormat = (typeof RecordFormat)[keyof typeof RecordFormat];

/** The event published to EventBridge when a scan completes; `detail` is a `CompletionDetail`. */
export const CompletionEvent = { source: 'ddbscan', detailType: 'Scan Completed' } as const;

/**
 * Published once per tracked consumer and scan when the consumer has processed, or failed every
 * retry of, each of the scan's records; `detail` is a `ProcessedDetail`.
 */
export const ProcessedEvent = { source: 'ddbscan', detailType: 'Scan Processed' } as const;

/** `detail` of "Scan Processed". */
export interface ProcessedDetail {
  readonly scanId: string;
  readonly consumer: string;
  /** The scan's records: `recordsPut` of its completion. */
  readonly total: number;
  /** Distinct records the consumer processed (each once, however often it was delivered). */
  readonly processed: number;
  /** Distinct records that failed every retry and were not processed since. */
  readonly failed: number;
  readonly firstProcessedAt: string | null;
  readonly lastProcessedAt: string | null;
  readonly durationSeconds: number;
}

/** A tracked consumer's progress through a scan, in `status`. */
export interface ConsumerProgress {
  readonly consumer: string;
  /**
   * WAITING: nothing processed yet; PROCESSING; PROCESSED: processed + failed = total, none
   * failed; FAILED: processed + failed = total, some failed (`ddbscan failures` lists them).
   */
  readonly state: 'WAITING' | 'PROCESSING' | 'PROCESSED' | 'FAILED';
  /** The scan's records once it completed; null before. */
  readonly total: number | null;
  readonly processed: number;
  readonly failed: number;
  /** (processed + failed) of total, or of the records put so far while the scan runs. */
  readonly percent: number | null;
  /** Records processed per second between the first and the last. */
  readonly recordsPerSecond: number;
  /** Records put to the stream that the consumer has neither processed nor failed. */
  readonly lag: number;
  readonly firstProcessedAt: string | null;
  readonly lastProcessedAt: string | null;
  /** "Scan Processed": sent, unknown (may or may not have been published, never sent twice), or null. */
  readonly processedEvent: CompletionEventOutcome | null;
}

/** A typed attribute value in JSON (binary as base64), as in DynamoDB's JSON API. */
export type AttributeValueJsonMap = Readonly<Record<string, unknown>>;

/**
 * Start a scan. An empty payload (`{}`) means start too. Options are validated here and kept
 * with the scan, so every invocation of every chain (and a resume) uses the same ones.
 */
export interface StartRequest {
  readonly action: 'start';
  /** 1 to 1,000,000 parallel scan segments, or "auto" (see the README for the rule). @default 1 */
  readonly segments?: number | 'auto';
  /**
   * Chains that run at once, 1 to 1,000: chain c scans segments c, c + n, c + 2n, … in turn.
   * @default the function's setting (100), or the number of segments when fewer
   */
  readonly concurrency?: number;
  /** Abandon the active (running, stopping or stopped) scan and start a new one. @default false */
  readonly restart?: boolean;
  /** FilterExpression: only matching items become records (every item is still read). */
  readonly filter?: string;
  /** ProjectionExpression: the attributes to read; the key attributes are always added. */
  readonly projection?: string;
  /** ExpressionAttributeNames for `#placeholders` in the filter and the projection. */
  readonly names?: Readonly<Record<string, string>>;
  /** ExpressionAttributeValues for `:placeholders` in the filter, as typed values. */
  readonly values?: AttributeValueJsonMap;
  /** @default false */
  readonly consistentRead?: boolean;
  /** Scan `Limit` per page. @default the function's setting, or DynamoDB's 1 MB pages */
  readonly pageSize?: number;
  /** ExclusiveStartKey to begin after (one segment only), e.g. to restart from a known key. */
  readonly startKey?: AttributeValueJsonMap;
  /** @default "dynamodb-stream" */
  readonly recordFormat?: RecordFormat;
  /**
   * At most this many records written to the stream per second, across all chains (each chain
   * still running takes an equal share), so a scan can run beside production writers.
   * @default no limit
   */
  readonly maxItemsPerSecond?: number;
  /**
   * At most this many read capacity units per second, across all chains (each still running
   * takes an equal share; measured with ReturnConsumedCapacity), so a scan leaves the table's
   * capacity to production traffic.
   * @default no limit
   */
  readonly maxReadUnitsPerSecond?: number;
}

/** Stop the running scan at the next checkpoint of each segment. */
export interface StopRequest {
  readonly action: 'stop';
  /** When given, must be the current scan's id: a guard against acting on a newer scan. */
  readonly scanId?: string;
}

/** Resume a stopped (or failed) scan: every unfinished segment continues from its checkpoint. */
export interface ResumeRequest {
  readonly action: 'resume';
  /** When given, must be the current scan's id. */
  readonly scanId?: string;
}

/** Internal, sent by the schedule: relaunch stalled segments, finish what is done. */
export interface WatchdogRequest {
  readonly action: 'watchdog';
}

/** Report the progress of the current (or last) scan. */
export interface StatusRequest {
  readonly action: 'status';
  /** When given, must be the current scan's id (only the latest scan is kept). */
  readonly scanId?: string;
}

/** `failures`: the records of a scan that failed every retry of a tracked consumer, oldest first. */
export interface FailuresRequest {
  readonly action: 'failures';
  /** The tracked consumer's name (its function name), as `status` shows it. */
  readonly consumer: string;
  /** @default the current (or last) scan */
  readonly scanId?: string;
  /** At most this many records, 1 to 1,000. @default 100 */
  readonly limit?: number;
}

/** A record that failed every retry of a consumer. */
export interface FailedRecordEntry {
  readonly eventID: string;
  /** The item's key, typed (as in DynamoDB's JSON). */
  readonly keys: AttributeValueJsonMap;
  readonly failedAt: string;
  /** Where the record is on the stream, while the stream keeps it. */
  readonly shardId: string | null;
  readonly sequenceNumber: string | null;
}

/** Answer to `failures`. */
export interface FailuresResponse {
  readonly scanId: string;
  readonly consumer: string;
  readonly records: readonly FailedRecordEntry[];
  /** More failed records than `limit`. */
  readonly more: boolean;
}

/**
 * `replay`: puts the failed records of a scan back on the stream, each as it was (same data,
 * same partition key, so the consumer processes it again; its count moves from failed to
 * processed). Records the stream no longer keeps (past its retention) are counted as gone.
 */
export interface ReplayRequest {
  readonly action: 'replay';
  readonly consumer: string;
  /** @default the current (or last) scan */
  readonly scanId?: string;
  /** At most this many records, 1 to 1,000. @default 100 */
  readonly limit?: number;
}

/** Answer to `replay`. */
export interface ReplayResponse {
  readonly scanId: string;
  readonly consumer: string;
  /** Records put back on the stream. */
  readonly replayed: number;
  /** Failed records no longer on the stream: run the scan again to send their items. */
  readonly gone: number;
  /** More failed records than `limit`: replay again. */
  readonly more: boolean;
}

/** `history`: the scans the scan record's kept versions show, newest first. */
export interface HistoryRequest {
  readonly action: 'history';
}

/** One past (or the current) scan, as last recorded. */
export interface ScanHistoryEntry {
  readonly scanId: string;
  readonly state: ScanState;
  readonly tableName: string;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly segments: number;
  /** From the summary of a completed scan; null for a scan that did not complete. */
  readonly itemsScanned: number | null;
  readonly recordsPut: number | null;
  readonly durationSeconds: number | null;
  readonly error: string | null;
  /** The scan that a restart started while this one was still running or stopping. */
  readonly replacedBy: string | null;
}

/**
 * Answer to `history`. SSM keeps the last 100 versions of the scan record, a few per scan (start,
 * stop, completion), so the history reaches back some dozens of scans.
 */
export interface HistoryResponse {
  readonly scans: readonly ScanHistoryEntry[];
}

/**
 * Internal: continue one chain. Sent by `start` and at every hand-off; the generation increases
 * by one per hand-off and fences out stale or duplicate invocations.
 */
export interface SegmentEvent {
  readonly action: 'segment';
  readonly scanId: string;
  /**
   * The chain, named by its first segment: with n chains it scans segments `segment`,
   * `segment + n`, `segment + 2n`, … one after the other.
   */
  readonly segment: number;
  readonly totalSegments: number;
  readonly generation: number;
  /** The hand-off that sent it: the token of the invocation that handed off. */
  readonly from?: string;
  /**
   * Sent by the watchdog (or a resume of a running scan) to a chain that had stalled: the
   * invocation counts the relaunch in the chain's checkpoint before it scans.
   */
  readonly relaunch?: true;
}

export type ScannerEvent =
  | StartRequest
  | StatusRequest
  | HistoryRequest
  | FailuresRequest
  | ReplayRequest
  | StopRequest
  | ResumeRequest
  | WatchdogRequest
  | SegmentEvent;

/** Answer to `start`, `stop` and `resume`. */
export interface StartResponse {
  readonly scanId: string;
  readonly state: ScanState;
  /** True when a scan was already running and this call reports it instead of starting another. */
  readonly alreadyRunning: boolean;
  /** `resume` on a running scan: how many stalled segments it relaunched. */
  readonly relaunched?: number;
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
  /** Items read (DynamoDB's ScannedCount), as of each segment's last checkpoint. */
  readonly itemsScanned: number;
  readonly recordsPut: number;
  readonly bytesPut: number;
  readonly handoffs: number;
  /** Items read per second since the scan started. */
  readonly itemsPerSecond: number;
  /** The table's ItemCount when the scan started (DynamoDB updates it about every six hours). */
  readonly tableItemCount: number | null;
  /** itemsScanned as a percentage of tableItemCount; null when the count is unknown or zero. */
  readonly percent: number | null;
  /** Seconds left at the current rate; null when unknown or not running. */
  readonly etaSeconds: number | null;
  /** Chains of the scan: how many segments are scanned at once. */
  readonly chains: number;
  readonly segments: {
    readonly total: number;
    readonly done: number;
    /** Segments being scanned now: one per running chain. */
    readonly running: number;
    /** Segments no chain has reached yet. */
    readonly pending: number;
    /** Running chains whose checkpoint is older than the function timeout plus a margin. */
    readonly stalled: number;
    readonly stopped: number;
    readonly failed: number;
  };
  /** Seconds since the oldest running segment last saved its checkpoint; null when none is running. */
  readonly checkpointAgeSeconds: number | null;
  readonly error: string | null;
  /**
   * The completion event of a COMPLETED scan: "sent" when EventBridge accepted it, "unknown" when
   * it may or may not have been published (it is never sent twice); null before completion.
   */
  readonly completionEvent: CompletionEventOutcome | null;
  /**
   * Parameters under the scan's path that this version cannot read (written by another version
   * or by hand): their chains are neither relaunched nor resumed until they are deleted.
   */
  readonly unreadableParameters: readonly string[];
  /** Each tracked consumer's progress through this scan; empty when none is tracked. */
  readonly consumers: readonly ConsumerProgress[];
}

/** Whether a completed scan's "Scan Completed" event was published. */
export type CompletionEventOutcome = 'sent' | 'unknown';

/** `detail` of the completion event. */
export interface CompletionDetail {
  readonly scanId: string;
  readonly tableName: string;
  readonly segments: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly itemsScanned: number;
  readonly recordsPut: number;
  readonly bytesPut: number;
  readonly handoffs: number;
  readonly durationSeconds: number;
  readonly itemsPerSecond: number;
}

/** Metadata added to every record, next to the DynamoDB-stream-shaped fields. */
export interface ScanRecordMetadata {
  readonly scanId: string;
  readonly segment: number;
  /** When the item was read, epoch milliseconds. */
  readonly scannedAt: number;
}

/**
 * The value the stack gives its root parameter, and keeps: the scanner never writes that
 * parameter (its state lives under the path), so a stack update that puts this value back
 * changes nothing. It reads as "no scan", as earlier versions, which kept the scan there, wrote it.
 */
export const INITIAL_ROOT_PARAMETER_VALUE = '{"v":1,"scan":null}';
