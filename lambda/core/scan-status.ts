/** `status`: the scan and its chains' checkpoints, in 1 + chains / 10 SSM reads. */

import { type ConsumerProgress, ScanState, SegmentState, type StatusResponse } from '../contract';
import { consumerProgress } from './consumer-progress';
import {
  type ControlConfig,
  checkScanId,
  isStalled,
  nameScan,
  repairer,
  segmentsOf,
  summarize,
} from './control-common';
import { isActive } from './lifecycle';
import type { ScannerPorts } from './ports';
import { completeScanIfDone } from './scan-completion';
import { scanHeadline, segmentsDone } from './scan-state';

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
  const listing = scan.summary === null ? await segmentsOf(scan, ports) : { checkpoints: [], unreadable: [] };
  let segments = listing.checkpoints;
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
  const active = isActive(scan.state);
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
  const consumers = await consumersOf(scan.scanId, totals.recordsPut, now, ports);
  return {
    ...scanHeadline(scan),
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
    completionEvent: scan.state === ScanState.completed ? (scan.completionEvent ?? null) : null,
    unreadableParameters: listing.unreadable.map((u) => u.name),
    consumers,
  };
}

/** Each tracked consumer's progress through the scan: one consistent read per consumer. */
async function consumersOf(
  scanId: string,
  recordsPut: number,
  now: number,
  ports: ScannerPorts,
): Promise<ConsumerProgress[]> {
  const progress = ports.progress;
  if (progress === undefined) return [];
  return Promise.all(
    progress.consumers.map(async (consumer) =>
      consumerProgress(consumer, await progress.store.read(consumer, scanId), recordsPut, now),
    ),
  );
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
    completionEvent: null,
    unreadableParameters: [],
    consumers: [],
  };
}
