import { createHash } from 'node:crypto';
import {
  type CompletionDetail,
  MAX_CONCURRENCY,
  ScannerMetrics,
  ScanState,
  SegmentState,
  type StartResponse,
  type StatusResponse,
} from '../contract';
import { toJsonMap } from './attribute-value';
import { forEachConcurrently } from './concurrency';
import { ConflictError, FatalScanError, isThrottling, ValidationError } from './errors';
import type { ClaimKind, ScannerPorts, StreamDescription, TableDescription } from './ports';
import {
  firstCheckpoint,
  type ScanOptions,
  type ScanRecord,
  type ScanSummary,
  type SegmentCheckpoint,
  segmentsDone,
} from './scan-state';

/** Segment chains launched at once by start and resume: Invoke calls are ~20-50 ms each. */
const LAUNCH_CONCURRENCY = 16;
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

export interface ControlConfig {
  readonly tableName: string;
  /** The function's page size, used when a start request sets none. */
  readonly defaultPageSize: number | null;
  /** Chains a start runs at once when its request sets no concurrency. */
  readonly defaultConcurrency: number;
  /** A running segment whose heartbeat is older is stalled; a completion claim older is abandoned. */
  readonly stalledAfterMs: number;
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
  const current = await store.loadScan();
  if (current !== null && !request.restart) {
    // A scan whose segments are all done but whose completion was interrupted is completed here,
    // so it cannot block new scans.
    if (
      current.state === ScanState.running &&
      !(await completeScanIfDone(current, repairer(ports), config, ports))
    ) {
      nameScan(current, ports);
      return response(current, true);
    }
    if (current.state === ScanState.stopping || current.state === ScanState.stopped) {
      throw new ConflictError(
        `Scan ${current.scanId} is ${current.state}: resume it with {"action":"resume"}, or start over with {"action":"start","restart":true}.`,
      );
    }
  }

  const [table, stream] = await Promise.all([reader.describeTable(), ports.sink.describeStream()]);
  const totalSegments = request.segments === 'auto' ? autoSegments(table, stream) : request.segments;
  const chains = Math.min(totalSegments, request.concurrency ?? config.defaultConcurrency);
  checkAgainstSegments({ ...request, concurrency: chains }, totalSegments);
  const options: ScanOptions = {
    filterExpression: request.filterExpression,
    projectionExpression: withKeys(request.projectionExpression, table.keyAttributes),
    expressionNames: namesWithKeys(
      request.projectionExpression,
      request.expressionNames,
      table.keyAttributes,
    ),
    expressionValues: request.expressionValues,
    consistentRead: request.consistentRead,
    pageSize: request.pageSize ?? config.defaultPageSize,
    startKey: request.startKey,
    recordFormat: request.recordFormat,
    maxItemsPerSecond: request.maxItemsPerSecond,
    maxReadUnitsPerSecond: request.maxReadUnitsPerSecond,
  };
  await probe(options, ports);

  // A restart sent again after its first attempt recorded the new scan (its answer was lost, or
  // slower than the caller's timeout) reports that scan: one restart request, one new scan.
  const startRequest = fingerprint(request);
  if (
    request.restart &&
    current?.startRequest === startRequest &&
    clock.now() - current.startedAt < RESTART_RESEND_WINDOW_MS
  ) {
    nameScan(current, ports);
    return response(current, true);
  }
  // Concurrent starts (the AWS CLI retries a slow synchronous invoke) must make one scan: the
  // one that creates the start claim for the scan being replaced goes on, the others report it.
  const replaced = current?.scanId ?? 'none';
  if (!(await claim('start', replaced, ports.ids.newOwnerToken(), START_CLAIM_STALE_MS, false, ports))) {
    return reportConcurrentStart(replaced, ports);
  }
  const now = clock.now();
  const scan: ScanRecord = {
    scanId: ports.ids.newScanId(now),
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
  nameScan(scan, ports);
  try {
    // Checkpoints and claims of an earlier scan (completed, failed or restarted) are cleared first.
    const leftovers = await store.listSegments();
    if (leftovers.length > 0) await store.deleteSegments(leftovers.map((s) => s.segment));
    await store.deleteClaims('completion');
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

/** A start that lost the start claim waits for the winner's scan and reports it. */
async function reportConcurrentStart(replaced: string, ports: ScannerPorts): Promise<StartResponse> {
  for (let poll = 0; poll < START_WAIT_POLLS; poll++) {
    const scan = await ports.store.loadScan();
    if (scan !== null && scan.scanId !== replaced) {
      nameScan(scan, ports);
      return response(scan, true);
    }
    await ports.clock.sleep(START_WAIT_POLL_MS);
  }
  throw new ConflictError(
    'Another start is in progress and its scan has not appeared yet; try again in a minute.',
  );
}

/** Asks every segment to stop at its next checkpoint. Repeating it is harmless. */
export async function stopScan(ports: ScannerPorts, scanId: string | null = null): Promise<StartResponse> {
  const { store, log } = ports;
  const current = await store.loadScan();
  if (current === null) throw new ConflictError('No scan to stop: none has run yet.');
  nameScan(current, ports);
  checkScanId(current, scanId);
  if (current.state === ScanState.stopping || current.state === ScanState.stopped)
    return response(current, false);
  if (current.state !== ScanState.running) {
    throw new ConflictError(`No scan to stop: scan ${current.scanId} is ${current.state}.`);
  }
  if ((await store.listClaims('completion', current.scanId)).length > 0) {
    throw new ConflictError(
      `No scan to stop: every segment of scan ${current.scanId} is done and it is completing.`,
    );
  }
  // A request beside the scan, not an overwrite of it: a completion or failure that lands now is kept.
  await store.requestStop(current.scanId);
  const stopping: ScanRecord = { ...current, state: ScanState.stopping };
  log.info('scan stopping', { scanId: current.scanId });
  return response(stopping, false);
}

/**
 * Continues a stopped, stopping or failed scan: every unfinished segment gets a new chain one
 * generation above its checkpoint, so any invocation still alive from before exits at its next
 * checkpoint. On a running scan it relaunches only the stalled segments.
 */
export async function resumeScan(
  config: ControlConfig,
  ports: ScannerPorts,
  scanId: string | null = null,
): Promise<StartResponse> {
  const { store, log } = ports;
  const current = await store.loadScan();
  if (current === null) throw new ConflictError('No scan to resume: none has run yet.');
  nameScan(current, ports);
  checkScanId(current, scanId);
  if (current.state === ScanState.running) {
    return { ...response(current, true), relaunched: await relaunchStalled(current, config, ports) };
  }
  if (current.state === ScanState.completed) {
    throw new ConflictError(
      `No scan to resume: scan ${current.scanId} is COMPLETED; start a new one with {"action":"start"}.`,
    );
  }
  const segments = await segmentsOf(current, ports);
  const claims = await store.listClaims('completion', current.scanId);
  if (segments.length === 0 && claims.length > 0) {
    // It completed, but a racing stop overwrote its COMPLETED record: record that again.
    const completed: ScanRecord = {
      ...current,
      state: ScanState.completed,
      finishedAt: claims[0]?.claim.at ?? null,
    };
    await store.saveScan(completed);
    return response(completed, false);
  }
  const checkpoints = new Map(segments.map((s) => [s.segment, s]));
  const running: ScanRecord = { ...current, state: ScanState.running, error: null, finishedAt: null };
  await store.clearStop();
  await store.saveScan(running);
  const unfinished = Array.from({ length: current.chains }, (_, segment) => segment)
    .filter((segment) => checkpoints.get(segment)?.state !== SegmentState.done)
    .map((segment) => ({ segment, generation: nextGeneration(checkpoints.get(segment)) }));
  if (unfinished.length === 0) {
    // Every segment is done. A completer of a STOPPED or FAILED scan has ended, so take its claim
    // now; one of a STOPPING scan may still be publishing, so wait for its claim to go stale.
    const force = current.state !== ScanState.stopping;
    await completeScanIfDone(running, repairer(ports), config, ports, { segments, force });
  } else {
    await launch(running, unfinished, ports, { failScanOnError: true });
  }
  log.info('scan resumed', { scanId: current.scanId, segments: unfinished.length });
  return response(running, false);
}

/**
 * Relaunches the segments of a running scan that have no live chain: a hand-off event that was
 * lost, or a checkpoint left STOPPED by a stop that raced a resume. Each gets a generation
 * above its checkpoint, so a chain that was only slow exits at its next checkpoint. Returns
 * how many it relaunched.
 */
async function relaunchStalled(
  scan: ScanRecord,
  config: ControlConfig,
  ports: ScannerPorts,
): Promise<number> {
  const now = ports.clock.now();
  const checkpoints = new Map((await segmentsOf(scan, ports)).map((s) => [s.segment, s]));
  const stalled = Array.from({ length: scan.chains }, (_, segment) => segment)
    .filter((segment) => isStalled(checkpoints.get(segment), scan, now, config.stalledAfterMs))
    .map((segment) => ({ segment, generation: nextGeneration(checkpoints.get(segment)) }));
  // Counted before launching: a relaunch that fails leaves them stalled, all the more reason to alarm.
  if (stalled.length > 0) ports.metrics.add(ScannerMetrics.segmentsStalled, stalled.length);
  // A failed relaunch leaves the scan running as it was, only not repaired.
  await launch(scan, stalled, ports, { failScanOnError: false });
  if (stalled.length > 0) {
    ports.log.warn('relaunched stalled segments', {
      scanId: scan.scanId,
      segments: stalled.map((s) => s.segment),
    });
  }
  return stalled.length;
}

/** What one watchdog run did. */
export interface WatchdogReport {
  readonly scanId: string | null;
  readonly state: ScanState;
  /** Stalled segments of a running scan relaunched from their checkpoints. */
  readonly relaunched: number;
  /** Segments of a stopping scan whose chain had died, recorded STOPPED at their checkpoint. */
  readonly stopped: number;
  /** True when this run completed a scan whose segments were all done. */
  readonly completed: boolean;
}

/**
 * The scheduled watchdog (every 5 minutes by default): relaunches any running segment whose
 * heartbeat is older than the function timeout plus a margin, completes a scan whose segments
 * are all done, and lets a stop settle when a segment's chain died while stopping.
 *
 * @example
 * // EventBridge schedule target payload: {"action":"watchdog"}
 * const report = await runWatchdog(config, ports); // { relaunched: 1, ... }
 */
export async function runWatchdog(config: ControlConfig, ports: ScannerPorts): Promise<WatchdogReport> {
  const { store, clock } = ports;
  const scan = await store.loadScan();
  nameScan(scan, ports);
  const report = {
    scanId: scan?.scanId ?? null,
    state: scan?.state ?? ScanState.idle,
    relaunched: 0,
    stopped: 0,
    completed: false,
  };
  if (scan?.state === ScanState.running) {
    const segments = await segmentsOf(scan, ports);
    if (await completeScanIfDone(scan, repairer(ports), config, ports, { segments })) {
      return { ...report, state: ScanState.completed, completed: true };
    }
    return { ...report, relaunched: await relaunchStalled(scan, config, ports) };
  }
  if (scan?.state !== ScanState.stopping) return report;
  const now = clock.now();
  const checkpoints = new Map((await segmentsOf(scan, ports)).map((s) => [s.segment, s]));
  let stopped = 0;
  for (let segment = 0; segment < scan.chains; segment++) {
    const checkpoint = checkpoints.get(segment);
    const ended = checkpoint?.state === SegmentState.done || checkpoint?.state === SegmentState.stopped;
    if (ended || !isStalled(checkpoint, scan, now, config.stalledAfterMs)) continue;
    const base = checkpoint ?? firstCheckpoint(scan, segment, 1, now);
    await store.saveSegment({ ...base, state: SegmentState.stopped, owner: null, updatedAt: now });
    stopped++;
  }
  await settleStoppingScan(scan.scanId, repairer(ports), config, ports);
  return { ...report, state: (await store.loadScan())?.state ?? scan.state, stopped };
}

/**
 * A segment of an active scan is stalled when it is not done and its checkpoint is older than
 * the stall time, or when it never checkpointed and the scan is that old.
 */
export function isStalled(
  checkpoint: SegmentCheckpoint | undefined,
  scan: ScanRecord,
  now: number,
  stalledAfterMs: number,
): boolean {
  if (checkpoint === undefined) return now - scan.startedAt > stalledAfterMs;
  return checkpoint.state !== SegmentState.done && now - checkpoint.updatedAt > stalledAfterMs;
}

/** One above the checkpoint; 2 without one, so a relaunch outranks a lost first event (generation 1). */
function nextGeneration(checkpoint: SegmentCheckpoint | undefined): number {
  return (checkpoint?.generation ?? 1) + 1;
}

/** Aggregates the scan and its segments into one progress report. */
export async function getStatus(
  config: ControlConfig,
  ports: ScannerPorts,
  scanId: string | null = null,
): Promise<StatusResponse> {
  const { store, clock } = ports;
  let scan = await store.loadScan();
  nameScan(scan, ports);
  if (scanId !== null) checkScanId(scan, scanId);
  if (scan === null) return idleStatus();
  let segments = scan.summary === null ? await segmentsOf(scan, ports) : [];
  const repaired =
    scan.state === ScanState.running &&
    (await completeScanIfDone(scan, repairer(ports), config, ports, { segments }));
  if (repaired) {
    scan = (await store.loadScan()) ?? scan;
    segments = [];
  }
  const now = clock.now();
  const totals = scan.summary ?? summarize(segments, scan, now);
  const current = scan;
  // Each chain that has not ended is on one segment; a stopped or failed chain is too.
  const count = (state: SegmentState) => segments.filter((s) => s.state === state).length;
  const done =
    scan.summary === null ? segments.reduce((n, s) => n + segmentsDone(current, s), 0) : scan.totalSegments;
  const failed = count(SegmentState.failed);
  const stopped = count(SegmentState.stopped);
  const active = scan.state === ScanState.running || scan.state === ScanState.stopping;
  const endedChains = count(SegmentState.done) + failed + stopped;
  const running = active && scan.summary === null ? scan.chains - endedChains : 0;
  const pending = Math.max(0, scan.totalSegments - done - running - failed - stopped);
  const bySegment = new Map(segments.map((s) => [s.segment, s]));
  const stalled = active
    ? Array.from({ length: scan.chains }, (_, n) => bySegment.get(n)).filter(
        // While stopping, a STOPPED segment is where it should be.
        (cp) =>
          !(current.state === ScanState.stopping && cp?.state === SegmentState.stopped) &&
          isStalled(cp, current, now, config.stalledAfterMs),
      ).length
    : 0;
  const heartbeats = segments.filter((s) => s.state === SegmentState.running).map((s) => s.updatedAt);
  const itemsPerSecond = totals.itemsPerSecond;
  const percent =
    scan.tableItemCount > 0 ? Math.min(100, (100 * totals.itemsScanned) / scan.tableItemCount) : null;
  const remaining = scan.tableItemCount - totals.itemsScanned;
  return {
    scanId: scan.scanId,
    state: scan.state,
    tableName: scan.tableName,
    startedAt: new Date(scan.startedAt).toISOString(),
    finishedAt: scan.finishedAt === null ? null : new Date(scan.finishedAt).toISOString(),
    itemsScanned: totals.itemsScanned,
    recordsPut: totals.recordsPut,
    bytesPut: totals.bytesPut,
    handoffs: totals.handoffs,
    itemsPerSecond,
    tableItemCount: scan.tableItemCount,
    percent: percent === null ? null : Math.round(percent * 10) / 10,
    etaSeconds: active && itemsPerSecond > 0 && remaining > 0 ? Math.round(remaining / itemsPerSecond) : null,
    chains: scan.chains,
    segments: { total: scan.totalSegments, done, running, pending, stalled, stopped, failed },
    checkpointAgeSeconds:
      running > 0 && heartbeats.length > 0 ? Math.round((now - Math.min(...heartbeats)) / 1000) : null,
    error: scan.error,
  };
}

/**
 * Completes the scan when every segment is done: exactly one caller (the creator of the
 * scan's completion claim) publishes the completion event, records that it did, then marks the
 * scan COMPLETED with a summary and deletes the segment checkpoints. Returns true when this
 * call completed it. A successor that takes over an abandoned claim publishes only if the
 * event was not recorded as published.
 */
export async function completeScanIfDone(
  scan: ScanRecord,
  holder: string,
  config: Pick<ControlConfig, 'stalledAfterMs'>,
  ports: ScannerPorts,
  options: {
    readonly segments?: readonly SegmentCheckpoint[];
    readonly force?: boolean;
    /** The chain that just finished: the check starts with the chains after it. */
    readonly after?: number;
  } = {},
): Promise<boolean> {
  const { store, clock } = ports;
  const segments = options.segments ?? (await allChainsDone(scan, options.after ?? -1, ports));
  if (segments === null) return false;
  if (segments.length < scan.chains || segments.some((s) => s.state !== SegmentState.done)) return false;
  const current = await store.loadScan();
  if (
    current?.scanId !== scan.scanId ||
    (current.state !== ScanState.running && current.state !== ScanState.stopping)
  ) {
    return false;
  }
  if (
    !(await claim('completion', scan.scanId, holder, config.stalledAfterMs, options.force === true, ports))
  ) {
    return false;
  }
  const finishedAt = clock.now();
  const summary = summarize(segments, current, finishedAt);
  // Published before the scan is marked COMPLETED, so a crash repeats the event rather than
  // losing it; the published mark is written at once after, with retries, to keep that window
  // to one SSM write.
  const published = `${scan.scanId}.published`;
  if ((await store.listClaims('completion', published)).length === 0) {
    await ports.events.publishCompletion(completionDetail(current, summary, finishedAt));
    await persist(() => store.createClaim('completion', published, 0, { holder, at: finishedAt }), ports);
  }
  const stillCurrent = await persist(async () => {
    // Re-read: a restart while publishing made another scan current; neither its record nor its
    // checkpoints (the same parameter names) may be touched.
    const latest = await store.loadScan();
    if (latest?.scanId !== scan.scanId) return false;
    await store.saveScan({ ...latest, state: ScanState.completed, finishedAt, summary });
    return true;
  }, ports);
  if (!stillCurrent) return false;
  // Only the caller that recorded COMPLETED: one duration per scan.
  ports.metrics.add(ScannerMetrics.scanDuration, summary.durationSeconds);
  await store.deleteSegments(segments.map((s) => s.segment));
  ports.log.info('scan completed', { scanId: scan.scanId, ...summary });
  return true;
}

/**
 * Every chain's checkpoint when all are DONE, else null. Reads 10 chains a call, starting with
 * the chains after `after` and stopping at the first one still at work: a finishing chain
 * usually pays one read, and only the last one to finish reads them all, so completion costs
 * O(chains) reads over the whole scan, not O(chains) per finishing chain.
 */
async function allChainsDone(
  scan: ScanRecord,
  after: number,
  ports: ScannerPorts,
): Promise<SegmentCheckpoint[] | null> {
  const order = Array.from({ length: scan.chains }, (_, i) => (after + 1 + i) % scan.chains);
  const checkpoints: SegmentCheckpoint[] = [];
  for (let i = 0; i < order.length; i += 10) {
    const batch = await ports.store.loadSegments(order.slice(i, i + 10));
    for (const checkpoint of batch) {
      if (checkpoint?.scanId !== scan.scanId || checkpoint.state !== SegmentState.done) return null;
      checkpoints.push(checkpoint);
    }
  }
  return checkpoints.sort((a, b) => a.segment - b.segment);
}

/**
 * Retries a write that must follow a side effect (the published event) through throttling:
 * five more attempts with exponential backoff, about 6 s in all, on top of the SDK's own.
 */
async function persist<T>(write: () => Promise<T>, ports: ScannerPorts): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isThrottling(error) || attempt >= 5) throw error;
      await ports.clock.sleep(200 * 2 ** attempt);
    }
  }
}

/**
 * Ends a stopping scan once every segment has saved its final checkpoint: STOPPED, or
 * COMPLETED when they all turned out to be done.
 */
export async function settleStoppingScan(
  scanId: string,
  holder: string,
  config: Pick<ControlConfig, 'stalledAfterMs'>,
  ports: ScannerPorts,
): Promise<void> {
  const current = await ports.store.loadScan();
  if (current?.scanId !== scanId || current.state !== ScanState.stopping) return;
  const segments = await segmentsOf(current, ports);
  if (segments.length < current.chains) return;
  if (segments.every((s) => s.state === SegmentState.done)) {
    await completeScanIfDone(current, holder, config, ports, { segments });
    return;
  }
  if (segments.some((s) => s.state === SegmentState.running)) return;
  await ports.store.saveScan({ ...current, state: ScanState.stopped });
  ports.log.info('scan stopped', { scanId });
}

/** Marks a running or stopping scan FAILED with the message; a scan that already ended is left alone. */
export async function failScan(scanId: string, message: string, ports: ScannerPorts): Promise<void> {
  const current = await ports.store.loadScan();
  if (
    current?.scanId !== scanId ||
    (current.state !== ScanState.running && current.state !== ScanState.stopping)
  )
    return;
  await ports.store.saveScan({
    ...current,
    state: ScanState.failed,
    error: message,
    finishedAt: ports.clock.now(),
  });
  // Counted by whoever moved it to FAILED: a scan that already ended returned above.
  ports.metrics.add(ScannerMetrics.scansFailed, 1);
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

/**
 * Exactly one winner: claim number k under `<kind>/<key>` is created if absent (atomic in SSM).
 * A holder that died is replaced by creating claim k+1 once claim k is older than `staleAfterMs`
 * (at once when forced), so two callers taking over at the same moment cannot both win.
 */
async function claim(
  kind: ClaimKind,
  key: string,
  holder: string,
  staleAfterMs: number,
  force: boolean,
  ports: ScannerPorts,
): Promise<boolean> {
  const { store, clock } = ports;
  const mine = { holder, at: clock.now() };
  const latest = (await store.listClaims(kind, key)).at(-1);
  if (latest === undefined) return store.createClaim(kind, key, 0, mine);
  if (latest.claim.holder === holder) return true;
  if (!force && clock.now() - latest.claim.at <= staleAfterMs) return false;
  ports.log.warn('taking over an abandoned claim', { kind, key, from: latest.claim.holder });
  return store.createClaim(kind, key, latest.attempt + 1, mine);
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
    throw new ValidationError(
      rejectedField(cause.message),
      `an input DynamoDB accepts (DynamoDB said: ${cause.message})`,
      options.filterExpression ?? options.projectionExpression ?? options.startKey,
    );
  }
}

function rejectedField(message: string): string {
  if (/ProjectionExpression/i.test(message)) return 'projection';
  if (/ExpressionAttributeValues/i.test(message)) return 'values';
  if (/ExpressionAttributeNames/i.test(message)) return 'names';
  if (/ExclusiveStartKey|start key/i.test(message)) return 'startKey';
  return 'filter';
}

/** The projection with the key attributes added (as `#ddbscanKey<n>` placeholders), so every record has its key. */
function withKeys(projection: string | null, keyAttributes: readonly string[]): string | null {
  if (projection === null) return null;
  return [projection, ...keyAttributes.map((_, i) => `#ddbscanKey${i}`)].join(', ');
}

function namesWithKeys(
  projection: string | null,
  names: Readonly<Record<string, string>> | null,
  keyAttributes: readonly string[],
): Readonly<Record<string, string>> | null {
  if (projection === null) return names;
  return { ...names, ...Object.fromEntries(keyAttributes.map((name, i) => [`#ddbscanKey${i}`, name])) };
}

async function launch(
  scan: ScanRecord,
  chains: readonly { segment: number; generation: number }[],
  ports: ScannerPorts,
  options: { readonly failScanOnError: boolean },
): Promise<void> {
  try {
    await forEachConcurrently(chains, LAUNCH_CONCURRENCY, ({ segment, generation }) =>
      ports.continuation.continueSegment({
        action: 'segment',
        scanId: scan.scanId,
        segment,
        totalSegments: scan.totalSegments,
        generation,
      }),
    );
  } catch (error) {
    if (options.failScanOnError) {
      const message = `Could not launch the segment chains: ${error instanceof Error ? error.message : String(error)}`;
      await failScan(scan.scanId, message, ports);
    }
    throw error;
  }
}

/** Puts the scan's id on every later log line of the invocation. */
function nameScan(scan: ScanRecord | null, ports: ScannerPorts): void {
  if (scan !== null) ports.log.appendKeys({ scanId: scan.scanId });
}

/** A holder name for completions triggered by start, resume or status, unique per call. */
function repairer(ports: ScannerPorts): string {
  return `repair-${ports.ids.newOwnerToken()}`;
}

async function segmentsOf(scan: ScanRecord, ports: ScannerPorts): Promise<SegmentCheckpoint[]> {
  return (await ports.store.listSegments()).filter((s) => s.scanId === scan.scanId);
}

function summarize(segments: readonly SegmentCheckpoint[], scan: ScanRecord, now: number): ScanSummary {
  const sum = (pick: (s: SegmentCheckpoint) => number) => segments.reduce((total, s) => total + pick(s), 0);
  const durationSeconds = Math.max(0, ((scan.finishedAt ?? now) - scan.startedAt) / 1000);
  const itemsScanned = sum((s) => s.itemsScanned);
  return {
    itemsScanned,
    recordsPut: sum((s) => s.recordsPut),
    bytesPut: sum((s) => s.bytesPut),
    handoffs: sum((s) => s.handoffs),
    durationSeconds,
    itemsPerSecond:
      durationSeconds > 0 ? Math.round((100 * itemsScanned) / durationSeconds) / 100 : itemsScanned,
  };
}

function completionDetail(scan: ScanRecord, summary: ScanSummary, finishedAt: number): CompletionDetail {
  return {
    scanId: scan.scanId,
    tableName: scan.tableName,
    segments: scan.totalSegments,
    startedAt: new Date(scan.startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    ...summary,
  };
}

/** A request that names a scan must name the current one: only the latest scan is kept. */
function checkScanId(current: ScanRecord | null, scanId: string | null): void {
  if (scanId === null || current?.scanId === scanId) return;
  const expected =
    current === null ? 'no scan id (no scan has run yet)' : `the current scan's id "${current.scanId}"`;
  throw new ValidationError('scanId', expected, scanId);
}

function response(scan: ScanRecord, alreadyRunning: boolean): StartResponse {
  return {
    scanId: scan.scanId,
    state: scan.state,
    alreadyRunning,
    segments: scan.totalSegments,
    startedAt: new Date(scan.startedAt).toISOString(),
  };
}

function idleStatus(): StatusResponse {
  return {
    scanId: null,
    state: ScanState.idle,
    tableName: null,
    startedAt: null,
    finishedAt: null,
    itemsScanned: 0,
    recordsPut: 0,
    bytesPut: 0,
    handoffs: 0,
    itemsPerSecond: 0,
    tableItemCount: null,
    percent: null,
    etaSeconds: null,
    chains: 0,
    segments: { total: 0, done: 0, running: 0, pending: 0, stalled: 0, stopped: 0, failed: 0 },
    checkpointAgeSeconds: null,
    error: null,
  };
}
