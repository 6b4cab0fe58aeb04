/** The scheduled watchdog: relaunch stalled chains, complete finished scans, settle stops. */
import { ScanState, SegmentState } from '../contract';
import { recordTotals } from './consumer-progress';
import { type ControlConfig, isStalled, nameScan, repairer, segmentsOf } from './control-common';
import type { ScannerPorts } from './ports';
import { completeScanIfDone, settleStoppingScan } from './scan-completion';
import { firstCheckpoint } from './scan-state';
import { relaunchStalled } from './scan-stop-resume';

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
    const { checkpoints: segments } = await segmentsOf(scan, ports);
    if (await completeScanIfDone(scan, repairer(ports), config, ports, { segments })) {
      return { ...report, state: ScanState.completed, completed: true };
    }
    return { ...report, relaunched: await relaunchStalled(scan, config, ports) };
  }
  if (scan?.state === ScanState.completed && scan.summary !== null && ports.progress) {
    // A completer that died before recording the consumers' totals left them to this run.
    await recordTotals(scan.scanId, scan.summary.recordsPut, repairer(ports), ports.progress, ports);
  }
  if (scan?.state !== ScanState.stopping) return report;
  const now = clock.now();
  const listing = await segmentsOf(scan, ports);
  const checkpoints = new Map(listing.checkpoints.map((s) => [s.segment, s]));
  // A chain whose parameter cannot be read is left as it is (a resume names it).
  const unreadable = new Set(listing.unreadable.map((u) => u.chain));
  let stopped = 0;
  for (let segment = 0; segment < scan.chains; segment++) {
    if (unreadable.has(segment)) continue;
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
