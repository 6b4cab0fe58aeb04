/** `history`: past scans, from the versions of the scan record the store keeps. */

import type { HistoryResponse, ScanHistoryEntry } from '../contract';
import { isActive } from './lifecycle';
import type { ScannerPorts } from './ports';
import { type ScanRecord, scanHeadline } from './scan-state';

/**
 * Every scan the kept versions of the scan record show, newest started first, each as it was
 * last recorded: the current scan as `status` sees it (STOPPING once a stop is asked for). A scan
 * a restart replaced while it ran names the scan that replaced it.
 *
 * @example
 * await listScans(ports); // { scans: [{ scanId: '20261121T131600Z-4f2a9c', state: 'COMPLETED', ... }, ...] }
 */
export async function listScans(ports: ScannerPorts): Promise<HistoryResponse> {
  const [versions, current] = await Promise.all([ports.store.scanVersions(), ports.store.loadScan()]);
  // Each scan as last recorded (a late write of an old scan changes its entry, not its place).
  const last = new Map<string, ScanRecord>();
  for (const version of versions) last.set(version.scanId, version);
  if (current !== null) last.set(current.scanId, current);
  const scans = [...last.values()].sort((a, b) => a.startedAt - b.startedAt || compare(a.scanId, b.scanId));
  return {
    scans: scans
      // A scan that was still running or stopping when the next one started was replaced by it.
      .map((scan, i) => entry(scan, isActive(scan.state) ? scans[i + 1] : undefined))
      .reverse(),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function entry(scan: ScanRecord, replacedBy: ScanRecord | undefined): ScanHistoryEntry {
  return {
    ...scanHeadline(scan),
    segments: scan.totalSegments,
    itemsScanned: scan.summary?.itemsScanned ?? null,
    recordsPut: scan.summary?.recordsPut ?? null,
    durationSeconds: scan.summary?.durationSeconds ?? null,
    error: scan.error,
    replacedBy: replacedBy?.scanId ?? null,
  };
}
