import { ScanState, type SegmentEvent, SegmentState } from '../contract';
import { DeadlineError, FatalScanError, SupersededError } from './errors';
import type { ScannerPorts } from './ports';
import { buildRecord, type RecordContext } from './record-format';
import { completeScanIfDone, failScan } from './scan-control';
import type { SegmentCheckpoint } from './scan-state';

export interface SegmentRunConfig {
  /** Epoch milliseconds at which this invocation is stopped by Lambda. */
  readonly deadline: number;
  /** Hand off when less than this remains before the deadline. */
  readonly handoffMs: number;
  readonly checkpointIntervalMs: number;
  readonly pageSize?: number;
  readonly region: string;
}

export type SegmentOutcome =
  | { readonly kind: 'stale'; readonly reason: string }
  | { readonly kind: 'handed-off'; readonly generation: number; readonly itemsScanned: number }
  | { readonly kind: 'done'; readonly scanCompleted: boolean; readonly itemsScanned: number }
  | { readonly kind: 'failed'; readonly error: string };

/**
 * Runs one invocation of a segment's chain: claims the segment, scans page by page from its
 * checkpoint, writes each page to the stream, checkpoints on a time cadence, and hands off to
 * a new invocation before the deadline.
 *
 * Invariants: a checkpoint is saved only after every record before its position was accepted;
 * before each write the invocation checks that it still owns the segment (generation and
 * owner token) and exits without writing when it does not.
 *
 * Transient errors are rethrown so that Lambda's async retry resumes from the checkpoint;
 * fatal ones mark the segment and the scan FAILED.
 *
 * @example
 * const outcome = await runSegment(event, { deadline, handoffMs: 15_000, checkpointIntervalMs: 10_000, region }, ports);
 */
export async function runSegment(
  event: SegmentEvent,
  config: SegmentRunConfig,
  ports: ScannerPorts,
): Promise<SegmentOutcome> {
  const { store, clock, reader, sink, continuation, log } = ports;
  const scan = await store.loadScan();
  if (scan === null || scan.scanId !== event.scanId) return stale('the scan is no longer the current one');
  if (scan.state !== ScanState.running) return stale(`the scan is ${scan.state}`);

  const found = await store.loadSegment(event.segment);
  const existing = found !== null && found.scanId === event.scanId ? found : null;
  if (existing !== null) {
    if (existing.state === SegmentState.done) {
      // A crash between finishing the segment and completing the scan is repaired here.
      await completeScanIfDone(scan, ports);
      return stale('the segment is already done');
    }
    if (existing.state === SegmentState.failed) return stale('the segment has failed');
    if (existing.generation > event.generation) {
      if (existing.generation === event.generation + 1 && existing.owner === null) {
        // A hand-off was recorded but no invocation claimed it yet: it may be lost, so send it
        // again. A duplicate converges through the claim below.
        await continuation.continueSegment({ ...event, generation: existing.generation });
        return stale(`re-sent the unclaimed hand-off to generation ${existing.generation}`);
      }
      return stale(`generation ${event.generation} is older than ${existing.generation}`);
    }
  }

  const owner = ports.ids.newOwnerToken();
  let saved: SegmentCheckpoint = {
    ...(existing ?? freshCheckpoint(event, clock.now())),
    generation: event.generation,
    owner,
    state: SegmentState.running,
    updatedAt: clock.now(),
  };
  await store.saveSegment(saved); // the claim: a concurrent duplicate sees this owner and exits
  let progress = pick(saved);

  const save = async (next: SegmentCheckpoint): Promise<void> => {
    const current = await store.loadSegment(event.segment);
    if (
      current?.scanId !== event.scanId ||
      current.generation !== event.generation ||
      current.owner !== owner
    ) {
      throw new SupersededError(`generation ${event.generation} was superseded`);
    }
    await store.saveSegment(next);
    saved = next;
  };

  const handOff = async (): Promise<SegmentOutcome> => {
    const generation = event.generation + 1;
    await save({
      ...saved,
      ...progress,
      generation,
      owner: null,
      handoffs: saved.handoffs + 1,
      updatedAt: clock.now(),
    });
    await continuation.continueSegment({ ...event, generation });
    log.info('handed off', { generation, itemsScanned: progress.itemsScanned });
    return { kind: 'handed-off', generation, itemsScanned: progress.itemsScanned };
  };

  const context: RecordContext = {
    tableName: scan.tableName,
    region: config.region,
    keyAttributes: scan.keyAttributes,
    scanId: scan.scanId,
    segment: event.segment,
  };

  let pages = 0;
  try {
    for (;;) {
      // At least one page per invocation, so a chain always progresses.
      if (pages > 0 && clock.now() >= config.deadline - config.handoffMs) return await handOff();
      const page = await reader.readPage({
        segment: event.segment,
        totalSegments: event.totalSegments,
        exclusiveStartKey: progress.position,
        limit: config.pageSize,
      });
      const scannedAt = clock.now();
      const records = page.items.map((item) => buildRecord(item, context, scannedAt));
      let put = { records: 0, bytes: 0 };
      if (records.length > 0) {
        try {
          // Leave half the hand-off margin for the checkpoint and the re-invoke.
          put = await sink.putRecords(records, config.deadline - config.handoffMs / 2);
        } catch (error) {
          // The page was not fully written: the checkpoint stays before it and the next
          // generation reads it again.
          if (error instanceof DeadlineError) return await handOff();
          throw error;
        }
      }
      progress = {
        position: page.lastEvaluatedKey,
        itemsScanned: progress.itemsScanned + page.items.length,
        recordsPut: progress.recordsPut + put.records,
        bytesPut: progress.bytesPut + put.bytes,
      };
      if (page.lastEvaluatedKey === null) {
        await save({ ...saved, ...progress, state: SegmentState.done, updatedAt: clock.now() });
        const scanCompleted = await completeScanIfDone(scan, ports);
        log.info('segment done', { itemsScanned: progress.itemsScanned, scanCompleted });
        return { kind: 'done', scanCompleted, itemsScanned: progress.itemsScanned };
      }
      pages++;
      // The first page's checkpoint also verifies the claim, so a duplicate invocation that
      // started at the same moment stops after one page instead of one checkpoint interval.
      if (pages === 1 || clock.now() - saved.updatedAt >= config.checkpointIntervalMs) {
        await save({ ...saved, ...progress, updatedAt: clock.now() });
      }
    }
  } catch (error) {
    if (error instanceof SupersededError) return stale(error.message);
    if (!(error instanceof FatalScanError)) throw error;
    log.error('segment failed', { error: error.message });
    await save({ ...saved, state: SegmentState.failed, error: error.message, updatedAt: clock.now() }).catch(
      (cause: unknown) => log.warn('could not mark the segment failed', { cause: String(cause) }),
    );
    await failScan(scan.scanId, error.message, ports);
    return { kind: 'failed', error: error.message };
  }
}

function stale(reason: string): SegmentOutcome {
  return { kind: 'stale', reason };
}

function pick(cp: SegmentCheckpoint) {
  return {
    position: cp.position,
    itemsScanned: cp.itemsScanned,
    recordsPut: cp.recordsPut,
    bytesPut: cp.bytesPut,
  };
}

function freshCheckpoint(event: SegmentEvent, now: number): SegmentCheckpoint {
  return {
    scanId: event.scanId,
    segment: event.segment,
    totalSegments: event.totalSegments,
    generation: event.generation,
    owner: null,
    state: SegmentState.running,
    position: null,
    itemsScanned: 0,
    recordsPut: 0,
    bytesPut: 0,
    handoffs: 0,
    updatedAt: now,
    error: null,
  };
}
