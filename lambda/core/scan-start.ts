/** `start`: validate the request, record the scan, launch its chains. */

import { createHash } from 'node:crypto';
import { MAX_CONCURRENCY, ScanState, type StartResponse } from '../contract';
import { toJsonMap } from './attribute-value';
import { type ControlConfig, claim, launch, nameScan, repairer, response } from './control-common';
import { ConflictError, FatalScanError, UnreadableParameterError, ValidationError } from './errors';
import { isActive, ON_START } from './lifecycle';
import type { ScannerPorts, StreamDescription, TableDescription } from './ports';
import { completeScanIfDone } from './scan-completion';
import { checkScanFits, type ScanOptions, type ScanRecord } from './scan-state';

/** A start claim older than this belongs to a start that died; a new start takes it over. */
const START_CLAIM_STALE_MS = 120_000;

/**
 * A restart identical to the one that started the current scan, this soon after, is taken as its
 * resend: the AWS CLI waits 60 s for a synchronous invoke and tries up to 3 times.
 */
const RESTART_RESEND_WINDOW_MS = 300_000;

/** How long a concurrent start waits for the winner's scan: 30 polls of 0.5 s. */
const START_WAIT_POLLS = 30;

const START_WAIT_POLL_MS = 500;

/** The expression attribute names start gives the key attributes it adds to a projection. */
const KEY_NAME_PREFIX = '#ddbscanKey';

/** A scan id's length (`20261121T131600Z-4f2a9c`), for measuring a scan before it has one. */
const SCAN_ID_OF_ANY_SCAN = '00000000T000000Z-000000';

/** "auto": one segment per 500 MB of table, at most one per MB/s of stream write capacity. */
const AUTO_BYTES_PER_SEGMENT = 500_000_000;

/** "auto" picks at most as many segments as chains can run at once. */
const AUTO_MAX_SEGMENTS = MAX_CONCURRENCY;

/** A new on-demand stream starts with 4 MB/s of write capacity. */
const ON_DEMAND_MIN_MBPS = 4;

/**
 * A start request whose fields were validated by the handler: the scan's options as given (the
 * key attributes are added to a projection at start) and how to launch it.
 */
export interface StartOptions extends ScanOptions {
  readonly segments: number | 'auto';
  /** Chains at once; null for the function's default. */
  readonly concurrency: number | null;
  readonly restart: boolean;
}

/**
 * The checks of start options that depend on the number of segments: a start key belongs to
 * one segmentation, and each segment takes an equal share of a limit, which below one a second
 * could not pace even one request (the chain would hand off at once, over and over). The handler
 * runs them before anything is read when the number is given; start, once it chose "auto".
 */
export function checkAgainstSegments(options: StartOptions, segments: number): void {
  if (options.startKey !== null && segments > 1) {
    throw new ValidationError(
      'startKey',
      'no start key when segments is more than 1 (a key belongs to one segmentation)',
      options.startKey,
    );
  }
  // Limits are shared by the chains that run at once.
  const chains = Math.min(segments, options.concurrency ?? segments);
  for (const field of ['maxItemsPerSecond', 'maxReadUnitsPerSecond'] as const) {
    const limit = options[field];
    if (limit !== null && limit < chains) {
      throw new ValidationError(field, `at least 1 per chain (${chains} chains at once)`, limit);
    }
  }
}

/**
 * Starts a scan, or reports the running one: safe to repeat. Validates the options with a
 * one-item probe scan before anything is written (a bad expression is a ValidationError for the
 * caller), records the scan, and launches each segment's chain asynchronously. It never scans
 * the table itself.
 *
 * @example
 * const answer = await startScan({ ...defaults, segments: 4 }, config, ports);
 * // { scanId: '20261121T131600Z-4f2a9c', state: 'RUNNING', alreadyRunning: false, segments: 4, ... }
 */
export async function startScan(
  request: StartOptions,
  config: ControlConfig,
  ports: ScannerPorts,
): Promise<StartResponse> {
  const { store, reader, clock, log } = ports;
  // The table and the stream are described while the scan record is read: they are needed
  // unless the request is a retry of the running scan's, which is answered without them (and
  // without waiting for them, whatever they answer).
  const described = Promise.all([reader.describeTable(), ports.sink.describeStream()]);
  described.catch(() => {});
  const { current, unreadableRecord } = await loadCurrent(request, ports);
  const startRequest = fingerprint(request);
  // The scan a plain start would report. One whose segments are all done but whose completion
  // was interrupted is completed here instead, so it cannot block new scans.
  const running =
    current !== null &&
    !request.restart &&
    ON_START[current.state] === 'report' &&
    !(await completeScanIfDone(current, repairer(ports), config, ports))
      ? current
      : null;
  // The very request that started it, again (a retry), is answered with it at once: it was
  // checked when it started the scan, and the table, stream or defaults may have moved on since.
  // Any other request is checked whole before a running scan is reported, so one that would be
  // refused is never answered as if it had been taken.
  if (running !== null && running.startRequest === startRequest) {
    nameScan(running, ports);
    return response(running, true);
  }
  const [table, stream] = await described;
  const totalSegments = request.segments === 'auto' ? autoSegments(table, stream) : request.segments;
  const chains = Math.min(totalSegments, request.concurrency ?? config.defaultConcurrency);
  checkAgainstSegments({ ...request, concurrency: chains }, totalSegments);
  const options: ScanOptions = {
    filterExpression: request.filterExpression,
    ...withKeys(request.projectionExpression, request.expressionNames, table.keyAttributes),
    expressionValues: request.expressionValues,
    consistentRead: request.consistentRead,
    pageSize: request.pageSize ?? config.defaultPageSize,
    startKey: request.startKey,
    recordFormat: request.recordFormat,
    maxItemsPerSecond: request.maxItemsPerSecond,
    maxReadUnitsPerSecond: request.maxReadUnitsPerSecond,
  };

  const now = clock.now();
  // The scan it would be; its id is drawn once the start goes on.
  const draft: ScanRecord = {
    scanId: SCAN_ID_OF_ANY_SCAN,
    state: ScanState.running,
    tableName: config.tableName,
    keyAttributes: table.keyAttributes,
    tableItemCount: table.itemCount,
    options,
    totalSegments,
    chains,
    streamShards: Math.max(1, stream.openShards),
    startedAt: now,
    finishedAt: null,
    error: null,
    summary: null,
    startRequest,
  };
  checkScanFits(draft);
  // The claim this start would take is read while the probe runs: both only read.
  const replaced = current?.scanId ?? (unreadableRecord ? 'unreadable' : 'none');
  const startClaims = store.listClaims('start', replaced);
  startClaims.catch(() => {});
  await probe(options, ports);

  if (running !== null) {
    // Another request would be taken for accepted while the running scan ignores it.
    refuseOtherOptions(request, draft, running);
    nameScan(running, ports);
    return response(running, true);
  }
  if (current !== null && !request.restart && ON_START[current.state] === 'refuse') {
    throw new ConflictError(
      `Scan ${current.scanId} is ${current.state}: resume it (ddbscan resume, or {"action":"resume"}), or start over ` +
        '(ddbscan start --restart, or {"action":"start","restart":true}).',
    );
  }

  // A restart sent again after its first attempt recorded the new scan (its answer was lost, or
  // slower than the caller's timeout) reports that scan: one restart request, one new scan.
  if (
    request.restart &&
    current?.startRequest === startRequest &&
    current.state !== ScanState.failed &&
    clock.now() - current.startedAt < RESTART_RESEND_WINDOW_MS
  ) {
    nameScan(current, ports);
    return response(current, isActive(current.state));
  }
  const scan: ScanRecord = { ...draft, scanId: ports.ids.newScanId(now) };
  // Concurrent starts (the AWS CLI retries a slow synchronous invoke) must make one scan: the
  // one that creates the start claim for the scan being replaced goes on, the others report it.
  const owner = ports.ids.newOwnerToken();
  if (!(await claim('start', replaced, owner, START_CLAIM_STALE_MS, false, ports, startClaims))) {
    return reportConcurrentStart(replaced, request, draft, ports);
  }
  nameScan(scan, ports);
  try {
    // Checkpoints and claims of an earlier scan (completed, failed or restarted) are cleared first.
    // So are chains' parameters this version cannot read: a restart goes on past them.
    // The two are independent: the completion claims are named by the scan they complete.
    const [{ checkpoints, unreadable }] = await Promise.all([
      store.listSegments(),
      store.deleteClaims('completion'),
    ]);
    const leftovers = [
      ...checkpoints.map((s) => s.segment),
      ...unreadable.flatMap((u) => (u.chain === null ? [] : [u.chain])),
    ];
    if (leftovers.length > 0) await store.deleteSegments(leftovers);
    await store.saveScan(scan);
  } catch (error) {
    await store.deleteClaims('start'); // let the next start try again at once
    throw error;
  }
  // Chain c starts with segment c, and goes on with c + chains, c + 2·chains, … in turn.
  await launch(
    scan,
    Array.from({ length: chains }, (_, segment) => ({ segment, generation: 1 })),
    ports,
    {
      failScanOnError: true,
    },
  );
  // Older start claims are only clutter: best effort, after the chains are on their way. The
  // claim for the replaced scan stays, so a late concurrent start still finds it taken.
  await store
    .deleteClaims('start', replaced)
    .catch((error: unknown) => log.warn('could not delete old start claims', { error: String(error) }));
  log.info('scan started', {
    scanId: scan.scanId,
    segments: totalSegments,
    chains,
    restart: request.restart,
  });
  return response(scan, false);
}

/**
 * The scan a start replaces. A scan record this version cannot read refuses a plain start (the
 * error names it) and is replaced by a restart, as if no scan had run.
 */
async function loadCurrent(
  request: StartOptions,
  ports: ScannerPorts,
): Promise<{ current: ScanRecord | null; unreadableRecord: boolean }> {
  try {
    return { current: await ports.store.loadScan(), unreadableRecord: false };
  } catch (error) {
    if (!(error instanceof UnreadableParameterError) || !request.restart) throw error;
    ports.log.warn('replacing a scan record this version cannot read', { error: error.message });
    return { current: null, unreadableRecord: true };
  }
}

/**
 * A start that lost the start claim waits for the winner's scan and reports it, or refuses when
 * the winner runs with other options than it asked for.
 */
async function reportConcurrentStart(
  replaced: string,
  request: StartOptions,
  draft: ScanRecord,
  ports: ScannerPorts,
): Promise<StartResponse> {
  for (let poll = 0; poll < START_WAIT_POLLS; poll++) {
    // A record this version cannot read is the one being replaced, until the winner's lands.
    const scan = await ports.store.loadScan().catch((error: unknown) => {
      if (error instanceof UnreadableParameterError) return null;
      throw error;
    });
    if (scan !== null && scan.scanId !== replaced) {
      refuseOtherOptions(request, draft, scan);
      nameScan(scan, ports);
      return response(scan, true);
    }
    await ports.clock.sleep(START_WAIT_POLL_MS);
  }
  throw new ConflictError(
    'Another start is in progress and its scan has not appeared yet; try again in a minute.',
  );
}

/**
 * The "auto" segment count: one segment per 500 MB of table, but no more than one per MB/s of
 * the stream's write capacity (a shard takes 1 MB/s; an on-demand stream starts at 4 MB/s),
 * from 1 to 1,000.
 */
export function autoSegments(table: Pick<TableDescription, 'sizeBytes'>, stream: StreamDescription): number {
  const capacityMBps =
    stream.mode === 'ON_DEMAND' ? Math.max(ON_DEMAND_MIN_MBPS, stream.openShards) : stream.openShards;
  const bySize = Math.ceil(table.sizeBytes / AUTO_BYTES_PER_SEGMENT);
  return Math.max(1, Math.min(capacityMBps, bySize, AUTO_MAX_SEGMENTS));
}

/** Refuses a start whose options the running scan would ignore, naming the fields that differ. */
function refuseOtherOptions(request: StartOptions, candidate: ScanRecord, running: ScanRecord): void {
  const differ = differingFields(request, candidate, running);
  if (differ.length === 0) return;
  throw new ConflictError(
    `Scan ${running.scanId} is running with other options (${differ.join(', ')} differ): wait for it to finish, ` +
      'stop it (ddbscan stop, or {"action":"stop"}), or replace it (ddbscan start --restart, or "restart": true).',
  );
}

/**
 * The request fields in which a start differs from the running scan: its options as the scan
 * would have recorded them, its segments when it names a number, its concurrency and page size
 * when it names them ("auto" and the defaults leave the choice to the scanner).
 */
function differingFields(request: StartOptions, candidate: ScanRecord, current: ScanRecord): string[] {
  const fields: string[] = [];
  if (request.segments !== 'auto' && candidate.totalSegments !== current.totalSegments)
    fields.push('segments');
  if (request.concurrency !== null && candidate.chains !== current.chains) fields.push('concurrency');
  for (const [option, field] of Object.entries(REQUEST_FIELDS)) {
    const key = option as keyof ScanOptions;
    // A page size the request leaves to the function's default is the scanner's choice too.
    if (key === 'pageSize' && request.pageSize === null) continue;
    if (canonical(candidate.options[key]) !== canonical(current.options[key])) fields.push(field);
  }
  return fields;
}

/** Each scan option by the name of its start request field. */
const REQUEST_FIELDS: Readonly<Record<keyof ScanOptions, string>> = {
  filterExpression: 'filter',
  projectionExpression: 'projection',
  expressionNames: 'names',
  expressionValues: 'values',
  consistentRead: 'consistentRead',
  pageSize: 'pageSize',
  startKey: 'startKey',
  recordFormat: 'recordFormat',
  maxItemsPerSecond: 'maxItemsPerSecond',
  maxReadUnitsPerSecond: 'maxReadUnitsPerSecond',
};

/** A value as text for comparison: object keys in order, bytes as base64. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

/** A short, stable digest of a start request: its options and segmentation, as sent. */
function fingerprint(request: StartOptions): string {
  const { expressionValues, startKey, ...plain } = request;
  const text = JSON.stringify({
    ...plain,
    expressionValues: expressionValues === null ? null : toJsonMap(expressionValues),
    startKey: startKey === null ? null : toJsonMap(startKey),
  });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** One-item scan with the scan's options: DynamoDB rejects a bad expression here, before anything is written. */
async function probe(options: ScanOptions, ports: ScannerPorts): Promise<void> {
  try {
    await ports.reader.readPage({
      segment: 0,
      totalSegments: 1,
      exclusiveStartKey: options.startKey,
      limit: 1,
      options,
    });
  } catch (error) {
    const cause = error instanceof FatalScanError ? error.cause : undefined;
    if (!(cause instanceof Error) || cause.name !== 'ValidationException') throw error;
    const field = rejectedField(cause.message);
    throw new ValidationError(
      field,
      `an input DynamoDB accepts (DynamoDB said: ${withoutKeyNames(cause.message)})`,
      requestValue(field, options),
    );
  }
}

/** What the caller sent for the field: without the key attributes start adds to a projection. */
function requestValue(field: string, options: ScanOptions): unknown {
  switch (field) {
    case 'projection':
      return options.projectionExpression === null ? null : withoutKeyNames(options.projectionExpression);
    case 'names':
      return Object.fromEntries(
        Object.entries(options.expressionNames ?? {}).filter(([name]) => !name.startsWith(KEY_NAME_PREFIX)),
      );
    case 'values':
      return options.expressionValues;
    case 'startKey':
      return options.startKey;
    default:
      return options.filterExpression;
  }
}

/** A projection, or DynamoDB's message quoting it, without the `, #ddbscanKey<n>` start added. */
function withoutKeyNames(text: string): string {
  return text.replace(new RegExp(`, ${KEY_NAME_PREFIX}\\d+`, 'g'), '');
}

function rejectedField(message: string): string {
  if (/ProjectionExpression/i.test(message)) return 'projection';
  if (/ExpressionAttributeValues/i.test(message)) return 'values';
  if (/ExpressionAttributeNames/i.test(message)) return 'names';
  if (/ExclusiveStartKey|start(ing)? key/i.test(message)) return 'startKey';
  return 'filter';
}

/**
 * The projection and its names with the key attributes the projection lacks added (as
 * `#ddbscanKey<n>` placeholders), so every record has its key. Only the placeholders it uses are
 * added: DynamoDB refuses a name no expression uses.
 */
function withKeys(
  projection: string | null,
  names: Readonly<Record<string, string>> | null,
  keyAttributes: readonly string[],
): Pick<ScanOptions, 'projectionExpression' | 'expressionNames'> {
  if (projection === null) return { projectionExpression: null, expressionNames: names };
  const missing = missingKeys(projection, names, keyAttributes);
  if (missing.length === 0) return { projectionExpression: projection, expressionNames: names };
  const placeholders = missing.map(({ name, index }) => [`${KEY_NAME_PREFIX}${index}`, name] as const);
  return {
    projectionExpression: [projection, ...placeholders.map(([placeholder]) => placeholder)].join(', '),
    expressionNames: { ...names, ...Object.fromEntries(placeholders) },
  };
}

/**
 * The key attributes a projection does not name at its top level (by name or through a `#name`):
 * DynamoDB refuses a projection that names one attribute twice.
 */
function missingKeys(
  projection: string,
  names: Readonly<Record<string, string>> | null,
  keyAttributes: readonly string[],
): { readonly name: string; readonly index: number }[] {
  const named = new Set(
    projection.split(',').map((path) => {
      const head = path.trim().split(/[.[]/)[0] ?? '';
      return head.startsWith('#') ? (names?.[head] ?? head) : head;
    }),
  );
  return keyAttributes.flatMap((name, index) => (named.has(name) ? [] : [{ name, index }]));
}
