/** `stop` (a request beside the scan) and `resume` (new chains one generation up). */

import { ScannerMetrics, ScanState, SegmentState, type StartResponse } from '../contract';
import {
  type ControlConfig,
  checkScanId,
  isStalled,
  launch,
  nameScan,
  nextGeneration,
  repairer,
  response,
  segmentsOf,
} from './control-common';
import { ConflictError } from './errors';
import { transition } from './lifecycle';
import type { ScannerPorts } from './ports';
import { completeScanIfDone } from './scan-completion';
import type { ScanRecord } from './scan-state';

/** Asks every segment to stop at its next checkpoint. Repeating it is harmless. */
export async function stopScan(ports: ScannerPorts, scanId: string | null = null): Promise<StartResponse> {
  const { store, log } = ports;
  const current = await store.loadScan();
  if (current === null) throw new ConflictError('No scan to stop: none has run yet.');
  nameScan(current, ports);
  checkScanId(current, scanId);
  const next = transition(current.state, 'stop');
  if (next === null) throw new ConflictError(`No scan to stop: scan ${current.scanId} is ${current.state}.`);
  // Stopping or stopped already: repeating a stop is harmless.
  if (next === current.state) return response(current, false);
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
  if (transition(current.state, 'resume') === null) {
    throw new ConflictError(
      `No scan to resume: scan ${current.scanId} is COMPLETED; start a new one (ddbscan start, or {"action":"start"}).`,
    );
  }
  const { checkpoints: segments, unreadable } = await segmentsOf(current, ports);
  const [first] = unreadable;
  if (first !== undefined) {
    // Where that chain was is unknown: resuming it from its start would scan its segments again.
    throw new ConflictError(
      `Cannot resume scan ${current.scanId}: ${first.reason}${
        unreadable.length > 1
          ? ` (and ${unreadable.length - 1} more: ${unreadable
              .slice(1)
              .map((u) => u.name)
              .join(', ')})`
          : ''
      } Deleting a chain's parameter resumes that chain from its first segment.`,
    );
  }
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
export async function relaunchStalled(
  scan: ScanRecord,
  config: ControlConfig,
  ports: ScannerPorts,
): Promise<number> {
  const now = ports.clock.now();
  const listing = await segmentsOf(scan, ports);
  const checkpoints = new Map(listing.checkpoints.map((s) => [s.segment, s]));
  // A chain whose parameter cannot be read is left as it is: relaunching it would start it over.
  const unreadable = new Set(listing.unreadable.map((u) => u.chain));
  if (unreadable.size > 0) {
    ports.log.warn('chains whose parameter cannot be read are not relaunched', {
      parameters: listing.unreadable.map((u) => u.name),
    });
  }
  const stalled = Array.from({ length: scan.chains }, (_, segment) => segment)
    .filter((segment) => !unreadable.has(segment))
    .filter((segment) => isStalled(checkpoints.get(segment), scan, now, config.stalledAfterMs));
  // Counted before launching: a relaunch that fails leaves them stalled, all the more reason to alarm.
  if (stalled.length > 0) ports.metrics.add(ScannerMetrics.segmentsStalled, stalled.length);
  const relaunches = stalled.map((segment) => ({
    segment,
    generation: nextGeneration(checkpoints.get(segment)),
    relaunch: true as const,
  }));
  // A failed relaunch leaves the scan running as it was, only not repaired.
  await launch(scan, relaunches, ports, { failScanOnError: false });
  if (relaunches.length > 0) {
    ports.log.warn('relaunched stalled segments', {
      scanId: scan.scanId,
      segments: relaunches.map((s) => s.segment),
    });
  }
  return relaunches.length;
}
