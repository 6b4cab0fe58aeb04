/** What the control actions share: their configuration, launching chains, claims, failing a scan, answers. */

import { ScannerMetrics, ScanState, SegmentState, type StartResponse } from '../contract';
import { forEachConcurrently } from './concurrency';
import { ValidationError } from './errors';
import { transition } from './lifecycle';
import type { ClaimKind, NumberedClaim, ScannerPorts, SegmentListing } from './ports';
import type { ScanRecord, ScanSummary, SegmentCheckpoint } from './scan-state';

/** Segment chains launched at once by start and resume: Invoke calls are ~20-50 ms each. */
const LAUNCH_CONCURRENCY = 16;

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
export function nextGeneration(checkpoint: SegmentCheckpoint | undefined): number {
  return (checkpoint?.generation ?? 1) + 1;
}

/** Marks a running or stopping scan FAILED with the message; a scan that already ended is left alone. */
export async function failScan(scanId: string, message: string, ports: ScannerPorts): Promise<void> {
  const current = await ports.store.loadScan();
  if (current?.scanId !== scanId || transition(current.state, 'fail') === null) return;
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
 * Exactly one winner: claim number k under `<kind>/<key>` is created if absent (atomic in SSM).
 * A holder that died is replaced by creating claim k+1 once claim k is older than `staleAfterMs`
 * (at once when forced), so two callers taking over at the same moment cannot both win.
 */
export async function claim(
  kind: ClaimKind,
  key: string,
  holder: string,
  staleAfterMs: number,
  force: boolean,
  ports: ScannerPorts,
  /** The claims as a read begun earlier found them (a caller overlaps it with other work). */
  listed: Promise<NumberedClaim[]> = ports.store.listClaims(kind, key),
): Promise<boolean> {
  const { store, clock } = ports;
  const latest = (await listed).at(-1);
  const mine = { holder, at: clock.now() };
  if (latest === undefined) return store.createClaim(kind, key, 0, mine);
  if (latest.claim.holder === holder) return true;
  if (!force && clock.now() - latest.claim.at <= staleAfterMs) return false;
  ports.log.warn('taking over an abandoned claim', { kind, key, from: latest.claim.holder });
  return store.createClaim(kind, key, latest.attempt + 1, mine);
}

export async function launch(
  scan: ScanRecord,
  chains: readonly { segment: number; generation: number; relaunch?: true }[],
  ports: ScannerPorts,
  options: { readonly failScanOnError: boolean },
): Promise<void> {
  try {
    await forEachConcurrently(chains, LAUNCH_CONCURRENCY, ({ segment, generation, relaunch }) =>
      ports.continuation.continueSegment({
        action: 'segment',
        scanId: scan.scanId,
        segment,
        totalSegments: scan.totalSegments,
        generation,
        ...(relaunch === true ? { relaunch } : {}),
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
export function nameScan(scan: ScanRecord | null, ports: ScannerPorts): void {
  if (scan !== null) ports.log.appendKeys({ scanId: scan.scanId });
}

/** A holder name for completions triggered by start, resume or status, unique per call. */
export function repairer(ports: ScannerPorts): string {
  return `repair-${ports.ids.newOwnerToken()}`;
}

/** The checkpoints of the scan's chains (any of an earlier scan left out), and what cannot be read. */
export async function segmentsOf(scan: ScanRecord, ports: ScannerPorts): Promise<SegmentListing> {
  const { checkpoints, unreadable } = await ports.store.listSegments();
  return { checkpoints: checkpoints.filter((s) => s.scanId === scan.scanId), unreadable };
}

export function summarize(
  segments: readonly SegmentCheckpoint[],
  scan: ScanRecord,
  now: number,
): ScanSummary {
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

/** A request that names a scan must name the current one: only the latest scan is kept. */
export function checkScanId(current: ScanRecord | null, scanId: string | null): void {
  if (scanId === null || current?.scanId === scanId) return;
  const expected =
    current === null ? 'no scan id (no scan has run yet)' : `the current scan's id "${current.scanId}"`;
  throw new ValidationError('scanId', expected, scanId);
}

export function response(scan: ScanRecord, alreadyRunning: boolean): StartResponse {
  return {
    scanId: scan.scanId,
    state: scan.state,
    alreadyRunning,
    segments: scan.totalSegments,
    startedAt: new Date(scan.startedAt).toISOString(),
  };
}
