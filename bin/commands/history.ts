import type { HistoryResponse, ScanHistoryEntry } from '../../lambda/contract';
import { ExitCode } from './cli-error';
import { count, duration } from './format-status';
import type { Io } from './io';
import type { ScannerApi } from './scanner-api';

/** `ddbscan history [--json]`: the past scans, newest first, one line each. */
export async function runHistoryCommand(
  api: ScannerApi,
  options: { readonly json: boolean },
  io: Io,
): Promise<ExitCode> {
  const history = (await api.call({ action: 'history' })) as HistoryResponse;
  if (options.json) io.out(JSON.stringify(history));
  else for (const line of formatHistory(history)) io.out(line);
  return ExitCode.ok;
}

export function formatHistory(history: HistoryResponse): string[] {
  if (history.scans.length === 0) return ['No scan has run yet.'];
  return history.scans.map(line);
}

function line(scan: ScanHistoryEntry): string {
  const segments = `${count(scan.segments)} segment${scan.segments === 1 ? '' : 's'}`;
  const outcome =
    scan.replacedBy !== null
      ? `replaced by ${scan.replacedBy} (a restart)`
      : scan.itemsScanned !== null
        ? `${count(scan.itemsScanned)} items, ${count(scan.recordsPut ?? 0)} records in ${duration(scan.durationSeconds ?? 0)}`
        : (scan.error ?? '');
  return `${scan.scanId}  ${scan.state.padEnd(9)}  ${scan.startedAt}  ${scan.tableName}, ${segments}${outcome === '' ? '' : `: ${outcome}`}`;
}
