import { styleText } from 'node:util';
import {
  type ConsumerProgress,
  ScanState,
  type StartResponse,
  type StatusResponse,
} from '../../lambda/contract';

/** The colour of each state, on a terminal that shows colour. */
const STATE_COLORS: Record<ScanState, 'cyan' | 'yellow' | 'green' | 'red' | 'gray'> = {
  [ScanState.idle]: 'gray',
  [ScanState.running]: 'cyan',
  [ScanState.stopping]: 'yellow',
  [ScanState.stopped]: 'yellow',
  [ScanState.completed]: 'green',
  [ScanState.failed]: 'red',
};

/** A status as a few readable lines; with `color`, the state is coloured. */
export function formatStatus(status: StatusResponse, options: { readonly color?: boolean } = {}): string[] {
  if (status.scanId === null) return ['No scan has run yet.'];
  const state = options.color
    ? styleText(['bold', STATE_COLORS[status.state]], status.state, { validateStream: false })
    : status.state;
  const lines = [
    `scan ${status.scanId}  ${state}  (table ${status.tableName}, started ${status.startedAt}${status.finishedAt ? `, finished ${status.finishedAt}` : ''})`,
  ];
  const of = status.tableItemCount ? ` of ~${count(status.tableItemCount)} (${status.percent ?? 0}%)` : '';
  const eta = status.etaSeconds === null ? '' : `   ETA ${duration(status.etaSeconds)}`;
  lines.push(
    `  items      ${count(status.itemsScanned)}${of}   ${count(status.itemsPerSecond)} items/s${eta}`,
  );
  lines.push(`  records    ${count(status.recordsPut)} put, ${megabytes(status.bytesPut)}`);
  const s = status.segments;
  lines.push(
    // The counts add up to the total; stalled ones are among the running.
    `  segments   ${s.total}: ${s.done} done, ${s.running} running (${s.stalled} stalled), ${s.pending} pending, ${s.stopped} stopped, ${s.failed} failed`,
  );
  const age =
    status.checkpointAgeSeconds === null
      ? ''
      : `, oldest checkpoint ${duration(status.checkpointAgeSeconds)} ago`;
  lines.push(`  hand-offs  ${count(status.handoffs)}${age}`);
  if (status.completionEvent === 'unknown') {
    lines.push('  event      the Scan Completed event may not have been published (it is never sent twice)');
  }
  for (const name of status.unreadableParameters ?? []) {
    lines.push(`  unreadable ${name} (written by another version or by hand: delete it, or restart)`);
  }
  // A scanner older than consumer tracking answers without `consumers`.
  for (const c of status.consumers ?? []) lines.push(formatConsumer(c));
  if (status.error) lines.push(`  error      ${status.error}`);
  return lines;
}

/** One line per tracked consumer: its state and counts, rate and lag. */
function formatConsumer(c: ConsumerProgress): string {
  const of = c.total === null ? '' : ` of ${count(c.total)}`;
  const percent = c.percent === null ? '' : ` (${c.percent}%)`;
  const event =
    c.processedEvent === 'unknown' ? '; the Scan Processed event may not have been published' : '';
  return (
    `  consumer   ${c.consumer}  ${c.state}: ${count(c.processed)} processed, ${count(c.failed)} failed${of}${percent}` +
    `   ${count(c.recordsPerSecond)} records/s, ${count(c.lag)} behind${event}`
  );
}

export function formatStart(answer: StartResponse, verb: string): string {
  return answer.alreadyRunning
    ? `Scan ${answer.scanId} is already running (${segments(answer.segments)}, started ${answer.startedAt}).`
    : `${verb} scan ${answer.scanId}: ${answer.state}, ${segments(answer.segments)}.`;
}

function segments(n: number): string {
  return `${count(n)} segment${n === 1 ? '' : 's'}`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600)
    return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
