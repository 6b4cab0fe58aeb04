import { type CompletionEventOutcome, RecordFormat, ScanState, SegmentState } from '../contract';
import { type AttributeMap, fromJsonMap, toJsonMap } from './attribute-value';
import { FatalScanError, ValidationError } from './errors';
import { clipText, decodeKey, encodeKey, ssmJson } from './ssm-value';

/** SSM: a parameter value holds at most 8,192 characters (Advanced tier; 4,096 for Standard). */
export const MAX_PARAMETER_CHARS = 8192;

/**
 * An error message kept in the scan or a checkpoint is cut to this many characters: with the
 * largest key (4,792 characters encoded) a checkpoint stays under 6,300.
 */
export const MAX_ERROR_CHARS = 1000;

/** Totals kept when a scan completes. */
export interface ScanSummary {
  readonly itemsScanned: number;
  readonly recordsPut: number;
  readonly bytesPut: number;
  readonly handoffs: number;
  readonly durationSeconds: number;
  readonly itemsPerSecond: number;
}

/** How every page is read and every record built; fixed at start and kept with the scan. */
export interface ScanOptions {
  readonly filterExpression: string | null;
  /** Always includes the key attributes when set. */
  readonly projectionExpression: string | null;
  readonly expressionNames: Readonly<Record<string, string>> | null;
  readonly expressionValues: AttributeMap | null;
  readonly consistentRead: boolean;
  readonly pageSize: number | null;
  /** ExclusiveStartKey of segment 0's first page (single-segment scans only). */
  readonly startKey: AttributeMap | null;
  readonly recordFormat: RecordFormat;
  /** Records per second across all segments; null for no limit. */
  readonly maxItemsPerSecond: number | null;
  /** Read capacity units per second across all segments; null for no limit. */
  readonly maxReadUnitsPerSecond: number | null;
}

export const DEFAULT_SCAN_OPTIONS: ScanOptions = {
  filterExpression: null,
  projectionExpression: null,
  expressionNames: null,
  expressionValues: null,
  consistentRead: false,
  pageSize: null,
  startKey: null,
  recordFormat: RecordFormat.dynamodbStream,
  maxItemsPerSecond: null,
  maxReadUnitsPerSecond: null,
};

/** The scan, kept in `<root>/scan`. */
export interface ScanRecord {
  readonly scanId: string;
  readonly state: Exclude<ScanState, 'IDLE'>;
  readonly tableName: string;
  readonly keyAttributes: readonly string[];
  /** The table's ItemCount at start, for progress and ETA. */
  readonly tableItemCount: number;
  readonly options: ScanOptions;
  readonly totalSegments: number;
  /**
   * Chains that scan the segments, at most one concurrent execution each: chain c scans
   * segments c, c + chains, c + 2·chains, … in turn.
   */
  readonly chains: number;
  /**
   * The stream's open shards when the scan started: each chain starts writing at its share of
   * them. Null when unknown.
   */
  readonly streamShards: number | null;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly error: string | null;
  readonly summary: ScanSummary | null;
  /**
   * A fingerprint of the start request that created the scan, so that the same restart sent
   * again (the SDK and the AWS CLI resend a synchronous invoke whose answer was lost) reports
   * this scan instead of replacing it. Absent in scans recorded by earlier versions.
   */
  readonly startRequest?: string;
  /** Set when the scan completes: whether its completion event was published. */
  readonly completionEvent?: CompletionEventOutcome;
}

/**
 * One chain's progress, kept in its own parameter under the root. A chain is named by its
 * first segment (`segment`) and scans its segments one after the other; the counts are those of
 * every segment it has scanned.
 */
export interface SegmentCheckpoint {
  readonly scanId: string;
  /** The chain: its first segment. */
  readonly segment: number;
  /** The segment the chain is scanning now (its last one once DONE). */
  readonly currentSegment: number;
  readonly totalSegments: number;
  /** Raised by one at each hand-off; an invocation with an older generation is stale. */
  readonly generation: number;
  /**
   * Token of the invocation that owns this generation; null after a hand-off, until the next
   * invocation's first write.
   */
  readonly owner: string | null;
  readonly state: SegmentState;
  /** ExclusiveStartKey of the next page; null at the start and at the end. */
  readonly position: AttributeMap | null;
  readonly itemsScanned: number;
  readonly recordsPut: number;
  readonly bytesPut: number;
  readonly handoffs: number;
  /** Token of the invocation whose hand-off made this generation; null before the first hand-off. */
  readonly handedOffBy: string | null;
  /** Consecutive hand-offs that completed no page; the scan fails when it reaches the limit. */
  readonly stalls: number;
  /**
   * Relaunches of the chain by the watchdog (or a resume of a running scan) since its last
   * progress: invocations that died before moving it on. The scan fails at the limit.
   */
  readonly relaunches: number;
  /** Epoch milliseconds of the last write: the chain's heartbeat, and when it may write again. */
  readonly updatedAt: number;
  readonly error: string | null;
}

/**
 * Version 2 packs keys (`position`, `startKey`) with `encodeKey`; version 1 kept them as JSON
 * attribute maps, and is still read.
 */
const VERSION = 2;
const READABLE_VERSIONS: readonly unknown[] = [1, VERSION];

/** The checkpoint of a segment that has not read a page yet: at its start (or the scan's start key). */
export function firstCheckpoint(
  scan: ScanRecord,
  segment: number,
  generation: number,
  now: number,
): SegmentCheckpoint {
  return {
    scanId: scan.scanId,
    segment,
    currentSegment: segment,
    totalSegments: scan.totalSegments,
    generation,
    owner: null,
    state: SegmentState.running,
    // A start key is only allowed with one segment.
    position: scan.totalSegments === 1 ? scan.options.startKey : null,
    itemsScanned: 0,
    recordsPut: 0,
    bytesPut: 0,
    handoffs: 0,
    handedOffBy: null,
    stalls: 0,
    relaunches: 0,
    updatedAt: now,
    error: null,
  };
}

/** The segment a chain scans after `segment`, or null when that was its last. */
export function nextSegmentOf(
  scan: Pick<ScanRecord, 'chains' | 'totalSegments'>,
  segment: number,
): number | null {
  const next = segment + scan.chains;
  return next < scan.totalSegments ? next : null;
}

/** How many segments chain `chain` scans: every `chains`-th from its first. */
export function segmentsOfChain(scan: Pick<ScanRecord, 'chains' | 'totalSegments'>, chain: number): number {
  return Math.ceil((scan.totalSegments - chain) / scan.chains);
}

/** Segments a chain has finished, as of its checkpoint. */
export function segmentsDone(
  scan: Pick<ScanRecord, 'chains' | 'totalSegments'>,
  checkpoint: SegmentCheckpoint,
): number {
  if (checkpoint.state === SegmentState.done) return segmentsOfChain(scan, checkpoint.segment);
  return (checkpoint.currentSegment - checkpoint.segment) / scan.chains;
}

/** The scan as a stop request makes it: a RUNNING scan whose stop was requested is STOPPING. */
export function withStopRequest(scan: ScanRecord | null, stopRequestedFor: string | null): ScanRecord | null {
  if (scan === null || scan.state !== ScanState.running || stopRequestedFor !== scan.scanId) return scan;
  return { ...scan, state: ScanState.stopping };
}

export function encodeScan(scan: ScanRecord | null): string {
  const text = scanText(scan);
  if (text.length > MAX_PARAMETER_CHARS) {
    throw new FatalScanError(
      `The scan record is ${text.length} characters, over the SSM limit of ${MAX_PARAMETER_CHARS}.`,
    );
  }
  return text;
}

function scanText(scan: ScanRecord | null): string {
  if (scan === null) return ssmJson({ v: VERSION, scan });
  return ssmJson({
    v: VERSION,
    scan: {
      ...scan,
      error: scan.error === null ? null : clipText(scan.error, MAX_ERROR_CHARS),
      options: encodeOptions(scan.options),
    },
  });
}

function encodeOptions(options: ScanOptions): Record<string, unknown> {
  return {
    ...options,
    expressionValues: options.expressionValues === null ? null : toJsonMap(options.expressionValues),
    startKey: options.startKey === null ? null : encodeKey(options.startKey),
  };
}

/** The request fields of a start that the scan record keeps as given, by option. */
const OPTION_FIELDS = {
  filterExpression: 'filter',
  projectionExpression: 'projection',
  expressionNames: 'names',
  expressionValues: 'values',
  startKey: 'startKey',
} as const satisfies Partial<Record<keyof ScanOptions, string>>;

/**
 * Refuses, before anything is written, a scan whose record could not be kept in SSM at some
 * point of its life: with the longest error message and the largest summary it may come to
 * carry. The error names the request field that takes the most room.
 *
 * @throws ValidationError naming the field, the room the options have, and what they take
 */
export function checkScanFits(scan: ScanRecord): void {
  const big = Number.MAX_SAFE_INTEGER;
  const worst = scanText({
    ...scan,
    state: ScanState.completed,
    finishedAt: big,
    error: 'x'.repeat(MAX_ERROR_CHARS),
    summary: {
      itemsScanned: big,
      recordsPut: big,
      bytesPut: big,
      handoffs: big,
      durationSeconds: big,
      itemsPerSecond: big,
    },
  }).length;
  if (worst <= MAX_PARAMETER_CHARS) return;
  const encoded = encodeOptions(scan.options);
  const sizes = Object.entries(OPTION_FIELDS).map(([option, field]) => ({
    field,
    size: ssmJson(encoded[option]).length,
  }));
  const largest = sizes.reduce((a, b) => (b.size > a.size ? b : a));
  const taken = sizes.reduce((total, s) => total + s.size, 0);
  const count = (n: number) => n.toLocaleString('en-US');
  throw new ValidationError(
    largest.field,
    `the scan's options to take at most ${count(taken - (worst - MAX_PARAMETER_CHARS))} characters in SSM (the scan is kept in one parameter of at most ${count(MAX_PARAMETER_CHARS)})`,
    `${count(taken)} characters, ${count(largest.size)} of them in ${largest.field}`,
  );
}

/** What `status` and `history` say first of a scan: its id, state, table, and times as ISO text. */
export function scanHeadline(scan: ScanRecord) {
  return {
    scanId: scan.scanId,
    state: scan.state,
    tableName: scan.tableName,
    startedAt: new Date(scan.startedAt).toISOString(),
    finishedAt: scan.finishedAt === null ? null : new Date(scan.finishedAt).toISOString(),
  };
}

/** Parses the scan record; `null` means no scan has run yet. */
export function decodeScan(text: string): ScanRecord | null {
  const root = parseObject(text, 'scan record');
  if (!READABLE_VERSIONS.includes(root.v)) throw corrupt('scan record', `version ${JSON.stringify(root.v)}`);
  if (root.scan === null || root.scan === undefined) return null;
  const scan = asObject(root.scan, 'scan record');
  const state = scan.state;
  if (
    state !== ScanState.running &&
    state !== ScanState.stopping &&
    state !== ScanState.stopped &&
    state !== ScanState.completed &&
    state !== ScanState.failed
  ) {
    throw corrupt('scan record', `state ${JSON.stringify(state)}`);
  }
  const keyAttributes = scan.keyAttributes;
  if (!Array.isArray(keyAttributes) || !keyAttributes.every((k) => typeof k === 'string')) {
    throw corrupt('scan record', 'keyAttributes');
  }
  return {
    scanId: str(scan, 'scanId', 'scan record'),
    state,
    tableName: str(scan, 'tableName', 'scan record'),
    keyAttributes: keyAttributes as string[],
    tableItemCount: num(scan, 'tableItemCount', 'scan record'),
    options: decodeOptions(scan.options),
    totalSegments: num(scan, 'totalSegments', 'scan record'),
    // Absent in scans recorded by earlier versions: one chain per segment.
    chains:
      scan.chains == null ? num(scan, 'totalSegments', 'scan record') : num(scan, 'chains', 'scan record'),
    // Absent in scans recorded by earlier versions.
    streamShards: scan.streamShards == null ? null : num(scan, 'streamShards', 'scan record'),
    startedAt: num(scan, 'startedAt', 'scan record'),
    finishedAt: scan.finishedAt === null ? null : num(scan, 'finishedAt', 'scan record'),
    error: scan.error === null ? null : str(scan, 'error', 'scan record'),
    summary: (scan.summary ?? null) as ScanSummary | null,
    ...(typeof scan.startRequest === 'string' ? { startRequest: scan.startRequest } : {}),
    ...(scan.completionEvent === 'sent' || scan.completionEvent === 'unknown'
      ? { completionEvent: scan.completionEvent }
      : {}),
  };
}

/**
 * Encodes a checkpoint; its position is packed by `encodeKey`, so any key DynamoDB accepts fits.
 * @throws FatalScanError when the value would exceed SSM's 8,192-character limit.
 */
export function encodeSegment(checkpoint: SegmentCheckpoint): string {
  const text = ssmJson({
    v: VERSION,
    ...checkpoint,
    position: checkpoint.position === null ? null : encodeKey(checkpoint.position),
    error: checkpoint.error === null ? null : clipText(checkpoint.error, MAX_ERROR_CHARS),
  });
  if (text.length > MAX_PARAMETER_CHARS) {
    throw new FatalScanError(
      `The checkpoint of segment ${checkpoint.segment} is ${text.length} characters, over the SSM limit of ${MAX_PARAMETER_CHARS}.`,
    );
  }
  return text;
}

export function decodeSegment(text: string): SegmentCheckpoint {
  const where = 'segment checkpoint';
  const cp = parseObject(text, where);
  if (!READABLE_VERSIONS.includes(cp.v)) throw corrupt(where, `version ${JSON.stringify(cp.v)}`);
  const state = cp.state;
  if (!Object.values(SegmentState).includes(state as SegmentState)) {
    throw corrupt(where, `state ${JSON.stringify(state)}`);
  }
  let position: AttributeMap | null = null;
  try {
    position = cp.position === null ? null : readKey(cp.position, 'position');
  } catch (error) {
    throw new FatalScanError(`The ${where} holds an invalid position.`, { cause: error });
  }
  return {
    scanId: str(cp, 'scanId', where),
    segment: num(cp, 'segment', where),
    // Absent in checkpoints written by earlier versions: one segment per chain.
    currentSegment: cp.currentSegment == null ? num(cp, 'segment', where) : num(cp, 'currentSegment', where),
    totalSegments: num(cp, 'totalSegments', where),
    generation: num(cp, 'generation', where),
    owner: cp.owner === null ? null : str(cp, 'owner', where),
    state: state as SegmentState,
    position,
    itemsScanned: num(cp, 'itemsScanned', where),
    recordsPut: num(cp, 'recordsPut', where),
    bytesPut: num(cp, 'bytesPut', where),
    handoffs: num(cp, 'handoffs', where),
    // Absent in checkpoints written by earlier versions.
    handedOffBy: typeof cp.handedOffBy === 'string' ? cp.handedOffBy : null,
    stalls: num(cp, 'stalls', where),
    // Absent in checkpoints written by earlier versions.
    relaunches: cp.relaunches == null ? 0 : num(cp, 'relaunches', where),
    updatedAt: num(cp, 'updatedAt', where),
    error: cp.error === null ? null : str(cp, 'error', where),
  };
}

function decodeOptions(value: unknown): ScanOptions {
  const where = 'scan record';
  const o = asObject(value, where);
  const nullableString = (key: string) => (o[key] === null ? null : str(o, key, where));
  const names = o.expressionNames;
  if (
    names !== null &&
    (typeof names !== 'object' || Object.values(names as object).some((v) => typeof v !== 'string'))
  ) {
    throw corrupt(where, 'expressionNames');
  }
  const recordFormat = o.recordFormat;
  if (recordFormat !== RecordFormat.dynamodbStream && recordFormat !== RecordFormat.item) {
    throw corrupt(where, `recordFormat ${JSON.stringify(recordFormat)}`);
  }
  try {
    return {
      filterExpression: nullableString('filterExpression'),
      projectionExpression: nullableString('projectionExpression'),
      expressionNames: names as Record<string, string> | null,
      expressionValues:
        o.expressionValues === null ? null : fromJsonMap(o.expressionValues, 'expressionValues'),
      consistentRead: o.consistentRead === true,
      pageSize: o.pageSize === null ? null : num(o, 'pageSize', where),
      startKey: o.startKey === null ? null : readKey(o.startKey, 'startKey'),
      recordFormat,
      // Absent in scans recorded by earlier versions.
      maxItemsPerSecond: o.maxItemsPerSecond == null ? null : num(o, 'maxItemsPerSecond', where),
      maxReadUnitsPerSecond: o.maxReadUnitsPerSecond == null ? null : num(o, 'maxReadUnitsPerSecond', where),
    };
  } catch (error) {
    if (error instanceof FatalScanError) throw error;
    throw new FatalScanError(`The ${where} holds invalid options.`, { cause: error });
  }
}

/** A key as version 2 packs it, or as version 1 kept it (a JSON attribute map). */
function readKey(value: unknown, path: string): AttributeMap {
  return typeof value === 'string' ? decodeKey(value) : fromJsonMap(value, path);
}

function parseObject(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FatalScanError(`The ${where} is not JSON.`, { cause: error });
  }
  return asObject(value, where);
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(where, 'shape');
  return value as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const value = o[key];
  if (typeof value !== 'string') throw corrupt(where, key);
  return value;
}

function num(o: Record<string, unknown>, key: string, where: string): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw corrupt(where, key);
  return value;
}

function corrupt(where: string, what: string): FatalScanError {
  return new FatalScanError(`The ${where} is corrupt: unexpected ${what}.`);
}
