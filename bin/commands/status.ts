import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import { ScanState, type StatusResponse } from '../../lambda/contract';
import { ExitCode } from './cli-error';
import { count, duration, formatStatus } from './format-status';
import type { Io } from './io';
import type { ScannerApi } from './scanner-api';

export interface StatusOptions {
  readonly watch: boolean;
  readonly json: boolean;
  /** Seconds between polls while watching. */
  readonly interval: number;
}

/**
 * `ddbscan status [--watch] [--json]`. Once, it prints the status and exits 0. Watching, it
 * shows a progress bar (or a line per poll when not on a terminal) until the scan ends, then
 * exits by the outcome: 0 COMPLETED, 4 FAILED, 5 STOPPED.
 */
export async function runStatusCommand(api: ScannerApi, options: StatusOptions, io: Io): Promise<ExitCode> {
  let status = await fetchStatus(api);
  if (!options.watch) {
    print(status, options, io);
    return ExitCode.ok;
  }
  const bar = options.json || !io.progress.isTTY ? undefined : progressBar(io);
  bar?.start(
    Math.max(status.tableItemCount ?? 0, status.itemsScanned, 1),
    status.itemsScanned,
    payload(status),
  );
  while (active(status)) {
    if (bar) {
      bar.setTotal(Math.max(status.tableItemCount ?? 0, status.itemsScanned, 1));
      bar.update(status.itemsScanned, payload(status));
    } else if (options.json) {
      io.out(JSON.stringify(status));
    } else {
      io.err(progressLine(status));
    }
    await sleep(options.interval * 1000);
    status = await fetchStatus(api);
  }
  bar?.update(status.itemsScanned, payload(status));
  bar?.stop();
  print(status, options, io);
  return outcome(status);
}

export async function fetchStatus(api: ScannerApi): Promise<StatusResponse> {
  return (await api.call({ action: 'status' })) as StatusResponse;
}

function print(status: StatusResponse, options: Pick<StatusOptions, 'json'>, io: Io): void {
  if (options.json) io.out(JSON.stringify(status));
  else for (const line of formatStatus(status)) io.out(line);
}

function active(status: StatusResponse): boolean {
  return status.state === ScanState.running || status.state === ScanState.stopping;
}

function outcome(status: StatusResponse): ExitCode {
  if (status.state === ScanState.failed) return ExitCode.scanFailed;
  if (status.state === ScanState.stopped) return ExitCode.scanStopped;
  return ExitCode.ok;
}

function progressBar(io: Io): SingleBar {
  return new SingleBar({
    stream: io.progress,
    format:
      '{bar} {percentage}% | {value}/{total} items | {rate} items/s | ETA {etaText} | segments {done}/{segments} | {state}',
    hideCursor: true,
    barsize: 30,
  });
}

function payload(status: StatusResponse) {
  return {
    rate: count(status.itemsPerSecond),
    etaText: status.etaSeconds === null ? '?' : duration(status.etaSeconds),
    done: status.segments.done,
    segments: status.segments.total,
    state: status.state,
  };
}

function progressLine(status: StatusResponse): string {
  const p = payload(status);
  const percent = status.percent === null ? '' : ` (${status.percent}%)`;
  return `${status.state}: ${count(status.itemsScanned)} items${percent}, ${p.rate} items/s, ETA ${p.etaText}, segments ${p.done}/${p.segments} done`;
}
