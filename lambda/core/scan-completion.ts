/** Completing a scan once every chain is done: one completer, one event, the summary. */

import {
  type CompletionDetail,
  type CompletionEventOutcome,
  ScannerMetrics,
  ScanState,
  SegmentState,
} from '../contract';
import { recordTotals } from './consumer-progress';
import { type ControlConfig, claim, segmentsOf, summarize } from './control-common';
import { isThrottling, UncertainOutcomeError } from './errors';
import { transition } from './lifecycle';
import type { ScannerPorts } from './ports';
import type { ScanRecord, ScanSummary, SegmentCheckpoint } from './scan-state';

/**
 * Completes the scan when every segment is done: exactly one caller (the creator of the
 * scan's completion claim) publishes the completion event (at most once, see
 * `sendCompletionEvent`), marks the scan COMPLETED with a summary and deletes the chains'
 * checkpoints. Returns true when this call completed it.
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
    /** The DONE checkpoint that chain just wrote, so it is not read back. */
    readonly done?: SegmentCheckpoint;
  } = {},
): Promise<boolean> {
  const { store, clock } = ports;
  const segments = options.segments ?? (await allChainsDone(scan, options.after ?? -1, options.done, ports));
  if (segments === null) return false;
  if (segments.length < scan.chains || segments.some((s) => s.state !== SegmentState.done)) return false;
  const current = await store.loadScan();
  if (current?.scanId !== scan.scanId || transition(current.state, 'complete') === null) {
    return false;
  }
  if (
    !(await claim('completion', scan.scanId, holder, config.stalledAfterMs, options.force === true, ports))
  ) {
    return false;
  }
  const finishedAt = clock.now();
  const summary = summarize(segments, current, finishedAt);
  const completionEvent = await sendCompletionEvent(current, summary, finishedAt, holder, ports);
  const stillCurrent = await persist(async () => {
    // Re-read: a restart while publishing made another scan current; neither its record nor its
    // checkpoints (the same parameter names) may be touched.
    const latest = await store.loadScan();
    if (latest?.scanId !== scan.scanId) return false;
    await store.saveScan({ ...latest, state: ScanState.completed, finishedAt, summary, completionEvent });
    return true;
  }, ports);
  if (!stillCurrent) return false;
  // Only the caller that recorded COMPLETED: one duration per scan.
  ports.metrics.add(ScannerMetrics.scanDuration, summary.durationSeconds);
  await store.deleteSegments(segments.map((s) => s.segment));
  ports.log.info('scan completed', { scanId: scan.scanId, ...summary });
  if (ports.progress) await recordTotals(scan.scanId, summary.recordsPut, holder, ports.progress, ports);
  return true;
}

/**
 * Publishes the completion event at most once per scan, whatever fails and whoever retries:
 * the right to send it is a create-if-absent claim (`completion/<scanId>.event/0`) taken
 * before sending, and it is given back only when EventBridge answered that the event was not
 * published. So a completer killed after sending, a lost answer or a resent request never make
 * a second event; the price is that such a scan records "unknown" instead of "sent".
 */
async function sendCompletionEvent(
  scan: ScanRecord,
  summary: ScanSummary,
  finishedAt: number,
  holder: string,
  ports: ScannerPorts,
): Promise<CompletionEventOutcome> {
  const { store, log } = ports;
  // Versions before this one marked a published event so, after publishing.
  if ((await store.listClaims('completion', `${scan.scanId}.published`)).length > 0) return 'sent';
  const right = `${scan.scanId}.event`;
  if (!(await persist(() => store.createClaim('completion', right, 0, { holder, at: finishedAt }), ports))) {
    log.warn(
      'an earlier completer took the right to publish the completion event and did not finish: it may have published it, so it is not published again',
      { scanId: scan.scanId },
    );
    return 'unknown';
  }
  try {
    await ports.events.publishCompletion(completionDetail(scan, summary, finishedAt));
    return 'sent';
  } catch (error) {
    if (error instanceof UncertainOutcomeError) {
      log.warn('the completion event may or may not have been published; it is not sent again', {
        scanId: scan.scanId,
        error: error.message,
      });
      return 'unknown';
    }
    // Not published: the next completer may send it.
    await persist(() => store.deleteClaim('completion', right, 0), ports);
    throw error;
  }
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
  done: SegmentCheckpoint | undefined,
  ports: ScannerPorts,
): Promise<SegmentCheckpoint[] | null> {
  const known = done?.segment === after && done.state === SegmentState.done ? done : undefined;
  const order = Array.from({ length: scan.chains }, (_, i) => (after + 1 + i) % scan.chains).filter(
    (chain) => known === undefined || chain !== after,
  );
  const checkpoints: SegmentCheckpoint[] = known === undefined ? [] : [known];
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
 * Retries a write that must follow or guard a side effect (the published event) through throttling:
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
  if (current?.scanId !== scanId || transition(current.state, 'settle') === null) return;
  const { checkpoints: segments } = await segmentsOf(current, ports);
  if (segments.length < current.chains) return;
  if (segments.every((s) => s.state === SegmentState.done)) {
    await completeScanIfDone(current, holder, config, ports, { segments });
    return;
  }
  if (segments.some((s) => s.state === SegmentState.running)) return;
  await ports.store.saveScan({ ...current, state: ScanState.stopped });
  ports.log.info('scan stopped', { scanId });
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
