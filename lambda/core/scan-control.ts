import { ScanState, SegmentState, type StartResponse, type StatusResponse } from '../contract';
import type { ScannerPorts } from './ports';
import type { ScanRecord, ScanSummary, SegmentCheckpoint } from './scan-state';

export interface StartConfig {
  readonly tableName: string;
  readonly totalSegments: number;
}

/**
 * Starts a scan, or reports the running one: safe to repeat. Validates access with a
 * one-item probe scan before anything is written, records the scan, and launches each
 * segment's chain asynchronously. It never scans the table itself.
 *
 * @example
 * const answer = await startScan({ tableName: 'Orders', totalSegments: 1 }, ports);
 * // { scanId: '20261121T131600Z-4f2a9c', state: 'RUNNING', alreadyRunning: false, ... }
 */
export async function startScan(config: StartConfig, ports: ScannerPorts): Promise<StartResponse> {
  const { store, reader, clock, continuation, log } = ports;
  const current = await store.loadScan();
  // A scan whose segments are all done but whose completion was interrupted is completed here,
  // so it cannot block new scans.
  if (current?.state === ScanState.running && !(await completeScanIfDone(current, ports))) {
    return startResponse(current, true);
  }

  const { keyAttributes } = await reader.describeTable();
  await reader.readPage({ segment: 0, totalSegments: 1, exclusiveStartKey: null, limit: 1 });

  const leftovers = await store.listSegments();
  if (leftovers.length > 0) await store.deleteSegments(leftovers.map((s) => s.segment));

  const now = clock.now();
  const scan: ScanRecord = {
    scanId: ports.ids.newScanId(now),
    state: ScanState.running,
    tableName: config.tableName,
    keyAttributes,
    totalSegments: config.totalSegments,
    startedAt: now,
    finishedAt: null,
    error: null,
    summary: null,
  };
  await store.saveScan(scan);
  try {
    for (let segment = 0; segment < scan.totalSegments; segment++) {
      await continuation.continueSegment({
        action: 'segment',
        scanId: scan.scanId,
        segment,
        totalSegments: scan.totalSegments,
        generation: 1,
      });
    }
  } catch (error) {
    const message = `Could not launch the segment chains: ${error instanceof Error ? error.message : String(error)}`;
    await store.saveScan({ ...scan, state: ScanState.failed, error: message, finishedAt: clock.now() });
    throw error;
  }
  log.info('scan started', { scanId: scan.scanId, segments: scan.totalSegments });
  return startResponse(scan, false);
}

/** Aggregates the scan and its segments into one progress report. */
export async function getStatus(ports: ScannerPorts): Promise<StatusResponse> {
  const { store, clock } = ports;
  let scan = await store.loadScan();
  if (scan?.state === ScanState.running && (await completeScanIfDone(scan, ports)))
    scan = await store.loadScan();
  if (scan === null) {
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
      segments: { total: 0, done: 0, running: 0, failed: 0 },
      checkpointAgeSeconds: null,
      error: null,
    };
  }
  const segments = scan.summary === null ? await segmentsOf(scan, ports) : [];
  const totals = scan.summary ?? summarize(segments, scan, clock.now());
  const done =
    scan.summary === null ? segments.filter((s) => s.state === SegmentState.done).length : scan.totalSegments;
  const failed = segments.filter((s) => s.state === SegmentState.failed).length;
  const running = scan.state === ScanState.running ? scan.totalSegments - done - failed : 0;
  const heartbeats = segments.filter((s) => s.state === SegmentState.running).map((s) => s.updatedAt);
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
    segments: { total: scan.totalSegments, done, running, failed },
    checkpointAgeSeconds:
      running > 0 && heartbeats.length > 0
        ? Math.round((clock.now() - Math.min(...heartbeats)) / 1000)
        : null,
    error: scan.error,
  };
}

/**
 * Marks the scan COMPLETED when every segment is done: keeps a summary in the root
 * parameter and deletes the segment checkpoints. Returns true when this call completed it.
 */
export async function completeScanIfDone(scan: ScanRecord, ports: ScannerPorts): Promise<boolean> {
  const { store, clock } = ports;
  const segments = await segmentsOf(scan, ports);
  if (segments.length < scan.totalSegments || segments.some((s) => s.state !== SegmentState.done))
    return false;
  const current = await store.loadScan();
  if (current?.scanId !== scan.scanId || current.state !== ScanState.running) return false;
  const finishedAt = clock.now();
  await store.saveScan({
    ...current,
    state: ScanState.completed,
    finishedAt,
    summary: summarize(segments, current, finishedAt),
  });
  await store.deleteSegments(segments.map((s) => s.segment));
  ports.log.info('scan completed', { scanId: scan.scanId });
  return true;
}

/** Marks a running scan FAILED with the message; a scan that already ended is left alone. */
export async function failScan(scanId: string, message: string, ports: ScannerPorts): Promise<void> {
  const current = await ports.store.loadScan();
  if (current?.scanId !== scanId || current.state !== ScanState.running) return;
  await ports.store.saveScan({
    ...current,
    state: ScanState.failed,
    error: message,
    finishedAt: ports.clock.now(),
  });
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
    itemsPerSecond: durationSeconds > 0 ? Math.round(itemsScanned / durationSeconds) : itemsScanned,
  };
}

function startResponse(scan: ScanRecord, alreadyRunning: boolean): StartResponse {
  return {
    scanId: scan.scanId,
    state: scan.state,
    alreadyRunning,
    segments: scan.totalSegments,
    startedAt: new Date(scan.startedAt).toISOString(),
  };
}
