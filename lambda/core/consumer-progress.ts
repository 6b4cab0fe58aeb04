/** A tracked consumer's progress through a scan: when it is finished, and what `status` shows of it. */

import type { ConsumerProgress, ProcessedDetail } from '../contract';
import { UncertainOutcomeError } from './errors';
import type { Clock, Log, ProgressCounts, ProgressPorts, TrackedConsumers } from './ports';

/**
 * A claim to publish with no outcome after this long belongs to a caller that died while
 * publishing: it may have published, so the event reads "unknown" and is not sent again.
 */
export const ABANDONED_EVENT_CLAIM_MS = 5 * 60_000;

/** Every record of the scan is processed or failed: the scan's total is known and reached. */
export function isSettled(counts: ProgressCounts): boolean {
  return counts.total !== null && counts.processed + counts.failed >= counts.total;
}

/**
 * Publishes "Scan Processed" for this consumer and scan once every record is processed or
 * failed: at most once, whoever calls and however often (each batch's consumer and the
 * progress function call it). The right to publish is a conditional write taken before
 * sending and given back only when EventBridge answered that it did not publish; a publish
 * that may or may not have happened is recorded as "unknown" and never repeated. Returns
 * true when this call published (or may have).
 */
export async function publishIfProcessed(
  consumer: string,
  scanId: string,
  holder: string,
  ports: ProgressPorts,
): Promise<boolean> {
  const { store, clock, log } = ports;
  const counts = await store.read(consumer, scanId);
  if (!isSettled(counts) || counts.event !== null) return false;
  if (!(await store.claimEvent(consumer, scanId, holder, clock.now()))) return false;
  const detail = processedDetail(consumer, scanId, counts);
  try {
    await ports.events.publishProcessed(detail);
  } catch (error) {
    if (error instanceof UncertainOutcomeError) {
      await store.settleEvent(consumer, scanId, holder, 'unknown');
      log.warn('"Scan Processed" may or may not have been published; it is not sent again', {
        ...detail,
        error: error.message,
      });
      return true;
    }
    // Not published: the next caller may send it.
    await store.settleEvent(consumer, scanId, holder, null);
    throw error;
  }
  await store.settleEvent(consumer, scanId, holder, 'sent');
  log.info('scan processed', { ...detail });
  return true;
}

/**
 * Records a completed scan's total for every tracked consumer and publishes "Scan Processed"
 * for those already done (their last batch may have come before the completion). Safe to
 * repeat: the completer calls it, and the watchdog again until every total is in, so a
 * completer that died on the way leaves nothing undone. Returns the consumers whose total is
 * not recorded yet because a call failed (logged).
 */
export async function recordTotals(
  scanId: string,
  total: number,
  holder: string,
  tracked: TrackedConsumers,
  ports: { readonly clock: Clock; readonly log: Log },
): Promise<string[]> {
  const failed: string[] = [];
  const progressPorts = { ...ports, store: tracked.store, events: tracked.events };
  for (const consumer of tracked.consumers) {
    try {
      const counts = await tracked.store.read(consumer, scanId);
      if (counts.event !== null) continue;
      if (counts.total === null) await tracked.store.setTotal(consumer, scanId, total);
      await publishIfProcessed(consumer, scanId, holder, progressPorts);
    } catch (error) {
      failed.push(consumer);
      ports.log.warn("recording a consumer's total failed; the watchdog records it later", {
        scanId,
        consumer,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return failed;
}

function processedDetail(consumer: string, scanId: string, counts: ProgressCounts): ProcessedDetail {
  const { firstAt, lastAt } = counts;
  return {
    scanId,
    consumer,
    total: counts.total ?? 0,
    processed: counts.processed,
    failed: counts.failed,
    firstProcessedAt: iso(firstAt),
    lastProcessedAt: iso(lastAt),
    durationSeconds: firstAt !== null && lastAt !== null ? (lastAt - firstAt) / 1000 : 0,
  };
}

/**
 * What `status` shows of a consumer: its counts against the scan's total, or, while the scan
 * runs, against the records put so far (the lag is what the consumer has not reached yet).
 */
export function consumerProgress(
  consumer: string,
  counts: ProgressCounts,
  recordsPut: number,
  now: number,
): ConsumerProgress {
  const { total, processed, failed, firstAt, lastAt, event } = counts;
  const reached = processed + failed;
  const of = total ?? recordsPut;
  const seconds = firstAt !== null && lastAt !== null ? (lastAt - firstAt) / 1000 : 0;
  const state = isSettled(counts)
    ? failed > 0
      ? 'FAILED'
      : 'PROCESSED'
    : reached > 0
      ? 'PROCESSING'
      : 'WAITING';
  return {
    consumer,
    state,
    total,
    processed,
    failed,
    percent: of > 0 ? Math.min(100, Math.round((1000 * reached) / of) / 10) : null,
    recordsPerSecond: seconds > 0 ? Math.round((100 * processed) / seconds) / 100 : 0,
    lag: Math.max(0, of - reached),
    firstProcessedAt: iso(firstAt),
    lastProcessedAt: iso(lastAt),
    processedEvent:
      event === null
        ? null
        : (event.outcome ?? (now - event.at > ABANDONED_EVENT_CLAIM_MS ? 'unknown' : null)),
  };
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}
