/** `history`: past scans, from the versions of the scan record the store keeps. */

import type { HistoryResponse, ScanHistoryEntry } from '../contract';
import { isActive } from './lifecycle';
import type { ScannerPorts } from './ports';
import type { ScanRecord } from './scan-state';

/**
 * Every scan the kept versions of the scan record show, newest first, each as it was last
 * recorded: the current scan as `status` sees it (STOPPING once a stop is asked for). A scan a
 * restart replaced while it ran names the scan that replaced it.
 *
 * @example
 * await listScans(ports); // { scans: [{ scanId: '20261121T131600Z-4f2a9c', state: 'COMPLETED', ... }, ...] }
 */
export async function listScans(ports: ScannerPorts): Promise<HistoryResponse> {
  const [versions, current] = await Promise.all([ports.store.scanVersions(), ports.store.loadScan()]);
  const last = new Map<string, ScanRecord>();
  for (const version of versions) {
    // Map order is first insertion: delete first so a scan sits where its latest version is.
    last.delete(version.scanId);
    last.set(version.scanId, version);
  }
  if (current !== null) {
    last.delete(current.scanId);
    last.set(current.scanId, current);
  }
  const scans = [...last.values()];
  return {
    scans: scans
      .map((scan, i) => entry(scan, i + 1 < scans.length && isActive(scan.state) ? scans[i + 1] : undefined))
      .reverse(),
  };
}

function entry(scan: ScanRecord, replacedBy: ScanRecord | undefined): ScanHistoryEntry {
  return {
    scanId: scan.scanId,
    state: scan.state,
    tableName: scan.tableName,
    startedAt: new Date(scan.startedAt).toISOString(),
    finishedAt: scan.finishedAt === null ? null : new Date(scan.finishedAt).toISOString(),
    segments: scan.totalSegments,
    itemsScanned: scan.summary?.itemsScanned ?? null,
    recordsPut: scan.summary?.recordsPut ?? null,
    durationSeconds: scan.summary?.durationSeconds ?? null,
    error: scan.error,
    replacedBy: replacedBy?.scanId ?? null,
  };
}
