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
 * follows the tracked consumers until each has processed (or failed) every record, and exits
 * by the outcome: 0 COMPLETED (and processed), 4 FAILED, 5 STOPPED, 6 stalled (no chain
 * alive), 7 a consumer failed some records, 8 a consumer stalled, 1 when a restart replaced
 * the scan.
 */
export async function runStatusCommand(api: ScannerApi, options: StatusOptions, io: Io): Promise<ExitCode> {
  const status = await fetchStatus(api);
  if (!options.watch) {
    print(status, options, io);
    return ExitCode.ok;
  }
  // Ctrl-C ends the watch, not the scan: the bar gives the cursor back, the exit code says why.
  const interrupts = io.interrupts();
  const bar =
    options.json || !io.progress.isTTY ? undefined : progressBar(io, (status.tableItemCount ?? 0) > 0);
  bar?.start(total(status), status.itemsScanned, payload(status));
  try {
    return await watch(api, status, options, io, bar, interrupts.signal);
  } catch (error) {
    if (!interrupts.signal.aborted) throw error;
    io.err(`Stopped watching scan ${status.scanId}; the scan goes on (\`ddbscan stop\` stops it).`);
    return ExitCode.interrupted;
  } finally {
    // Whatever ended the watch, the bar's timers stop and the cursor comes back.
    bar?.stop();
    interrupts.dispose();
  }
}

async function watch(
  api: ScannerApi,
  first: StatusResponse,
  options: StatusOptions,
  io: Io,
  bar: SingleBar | undefined,
  signal: AbortSignal,
): Promise<ExitCode> {
  let status = first;
  const { scanId } = status;
  let stalledPolls = 0;
  while (active(status)) {
    if (bar) {
      bar.setTotal(total(status));
      bar.update(status.itemsScanned, payload(status));
    } else if (options.json) {
      io.out(JSON.stringify(status));
    } else {
      io.err(progressLine(status));
    }
    await sleep(options.interval * 1000, undefined, { signal });
    status = await fetchStatus(api, signal);
    if (status.scanId !== scanId) {
      bar?.stop();
      io.err(`Scan ${scanId} was replaced by scan ${status.scanId} (a restart); stopped watching.`);
      return ExitCode.failure;
    }
    // Nothing can move a scan whose every running chain has stalled: say so instead of waiting forever.
    const { stalled, running } = status.segments;
    stalledPolls = active(status) && stalled > 0 && stalled >= running ? stalledPolls + 1 : 0;
    if (stalledPolls >= STALLED_POLLS) {
      bar?.stop();
      print(status, options, io);
      io.err(
        `Scan ${scanId} is stalled: no segment has checkpointed within the stall time; \`ddbscan resume\` relaunches them.`,
      );
      return ExitCode.scanStalled;
    }
  }
  bar?.setTotal(total(status));
  bar?.update(status.itemsScanned, payload(status));
  bar?.stop();
  if (status.state === ScanState.completed && consuming(status)) {
    return followConsumers(api, status, options, io, signal);
  }
  print(status, options, io);
  return outcome(status);
}

/** A consumer stalled when its counts have not moved for this long while records remain. */
const CONSUMER_STALL_MS = 10 * 60_000;

/** After the scan completed: a line per poll until every tracked consumer has reached the total. */
async function followConsumers(
  api: ScannerApi,
  first: StatusResponse,
  options: StatusOptions,
  io: Io,
  signal: AbortSignal,
): Promise<ExitCode> {
  let status = first;
  let reached = reachedCount(status);
  let movedAt = Date.now();
  while (consuming(status)) {
    if (options.json) io.out(JSON.stringify(status));
    else for (const c of status.consumers ?? []) io.err(consumerLine(c));
    await sleep(options.interval * 1000, undefined, { signal });
    status = await fetchStatus(api, signal);
    if (reachedCount(status) !== reached) {
      reached = reachedCount(status);
      movedAt = Date.now();
    } else if (Date.now() - movedAt > CONSUMER_STALL_MS) {
      print(status, options, io);
      io.err(
        `A consumer of scan ${status.scanId} has processed no record for ${duration(CONSUMER_STALL_MS / 1000)}: look at its logs and its failure queue.`,
      );
      return ExitCode.consumerStalled;
    }
  }
  print(status, options, io);
  return (status.consumers ?? []).some((c) => c.state === 'FAILED')
    ? ExitCode.recordsFailed
    : outcome(status);
}

/** Some tracked consumer has not yet processed or failed every record. */
function consuming(status: StatusResponse): boolean {
  return (status.consumers ?? []).some((c) => c.state === 'WAITING' || c.state === 'PROCESSING');
}

function reachedCount(status: StatusResponse): number {
  return (status.consumers ?? []).reduce((n, c) => n + c.processed + c.failed, 0);
}

function consumerLine(c: NonNullable<StatusResponse['consumers']>[number]): string {
  return `${c.consumer}: ${c.state}, ${count(c.processed)} processed, ${count(c.failed)} failed of ${count(c.total ?? 0)} (${c.percent ?? 0}%), ${count(c.recordsPerSecond)} records/s`;
}

/** Polls in a row that must see a stalled scan before the watch gives up on it. */
const STALLED_POLLS = 3;

function total(status: StatusResponse): number {
  return Math.max(status.tableItemCount ?? 0, status.itemsScanned, 1);
}

export async function fetchStatus(api: ScannerApi, signal?: AbortSignal): Promise<StatusResponse> {
  return (await api.call({ action: 'status' }, { signal })) as StatusResponse;
}

function print(status: StatusResponse, options: Pick<StatusOptions, 'json'>, io: Io): void {
  if (options.json) io.out(JSON.stringify(status));
  else for (const line of formatStatus(status, { color: io.color })) io.out(line);
}

function active(status: StatusResponse): boolean {
  return status.state === ScanState.running || status.state === ScanState.stopping;
}

function outcome(status: StatusResponse): ExitCode {
  if (status.state === ScanState.failed) return ExitCode.scanFailed;
  if (status.state === ScanState.stopped) return ExitCode.scanStopped;
  return ExitCode.ok;
}

/** A bar against the table's ItemCount; without a count (0 until DynamoDB refreshes it) a counter line. */
function progressBar(io: Io, knownTotal: boolean): SingleBar {
  const counts = '{rate} items/s | ETA {etaText} | segments {done}/{segments} | {state}';
  return new SingleBar({
    stream: io.progress,
    format: knownTotal
      ? `{bar} {percentage}% | {value}/{total} items | ${counts}`
      : `{value} items | ${counts}`,
    hideCursor: true,
    barsize: 30,
  });
}

/** A running scan before its chains' first checkpoints: its counts are not in yet, not zero. */
function uncounted(status: StatusResponse): boolean {
  return (
    status.state === ScanState.running &&
    status.itemsScanned === 0 &&
    status.handoffs === 0 &&
    status.segments.done === 0
  );
}

function payload(status: StatusResponse) {
  return {
    rate: count(status.itemsPerSecond),
    etaText: status.etaSeconds === null ? '?' : duration(status.etaSeconds),
    done: status.segments.done,
    segments: status.segments.total,
    state: uncounted(status) ? `${status.state} (counted at the first checkpoints)` : status.state,
  };
}

function progressLine(status: StatusResponse): string {
  if (uncounted(status)) {
    return `${status.state}: ${status.chains} chains scanning; items are counted at their checkpoints, the first once each chain's first page is in`;
  }
  const p = payload(status);
  const percent = status.percent === null ? '' : ` (${status.percent}%)`;
  return `${status.state}: ${count(status.itemsScanned)} items${percent}, ${p.rate} items/s, ETA ${p.etaText}, segments ${p.done}/${p.segments} done`;
}
