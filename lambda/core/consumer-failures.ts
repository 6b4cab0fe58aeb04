/** `failures` and `replay`: the records a tracked consumer failed, listed and put back on the stream. */

import type { FailuresResponse, ReplayResponse } from '../contract';
import { ConflictError, ValidationError } from './errors';
import type { ScannerPorts, TrackedConsumers } from './ports';

export interface ConsumerRequest {
  readonly consumer: string;
  readonly scanId: string | null;
  readonly limit: number | null;
}

/** Replayed records are put within this long. */
const REPLAY_DEADLINE_MS = 60_000;

/** The failed records of a scan for a consumer, oldest first. */
export async function listFailures(request: ConsumerRequest, ports: ScannerPorts): Promise<FailuresResponse> {
  const { tracked, scanId } = await target(request, ports);
  const limit = request.limit ?? 100;
  const found = await tracked.store.listFailed(request.consumer, scanId, limit + 1);
  return {
    scanId,
    consumer: request.consumer,
    records: found.slice(0, limit).map((r) => ({
      eventID: r.eventID,
      keys: r.keys,
      failedAt: new Date(r.failedAt).toISOString(),
      shardId: r.shardId ?? null,
      sequenceNumber: r.sequenceNumber ?? null,
    })),
    more: found.length > limit,
  };
}

/**
 * Puts each failed record back on the stream as it was: the same data (so the same eventID,
 * which the consumer's count moves from failed to processed once it succeeds) and partition key.
 */
export async function replayFailures(request: ConsumerRequest, ports: ScannerPorts): Promise<ReplayResponse> {
  const { tracked, scanId } = await target(request, ports);
  // Each record is read back with its own iterator: GetShardIterator allows 5 calls a second per shard.
  const limit = request.limit ?? 100;
  const found = await tracked.store.listFailed(request.consumer, scanId, limit + 1);
  const chosen = found.slice(0, limit);
  const records = [];
  let gone = 0;
  for (const failed of chosen) {
    const record =
      failed.shardId === undefined || failed.sequenceNumber === undefined
        ? null
        : await tracked.stream.readRecord(failed.shardId, failed.sequenceNumber);
    if (record === null) gone++;
    else records.push(record);
  }
  if (records.length > 0) await ports.sink.putRecords(records, ports.clock.now() + REPLAY_DEADLINE_MS);
  ports.log.info('failed records replayed', {
    scanId,
    consumer: request.consumer,
    replayed: records.length,
    gone,
  });
  return { scanId, consumer: request.consumer, replayed: records.length, gone, more: found.length > limit };
}

async function target(
  request: ConsumerRequest,
  ports: ScannerPorts,
): Promise<{ tracked: TrackedConsumers; scanId: string }> {
  const tracked = ports.progress;
  if (tracked === undefined || !tracked.consumers.includes(request.consumer)) {
    const names = tracked?.consumers.map((c) => JSON.stringify(c)).join(', ') ?? '';
    throw new ValidationError(
      'consumer',
      names === ''
        ? 'a tracked consumer (this scanner tracks none: addConsumer with trackProgress)'
        : `one of ${names}`,
      request.consumer,
    );
  }
  const scanId = request.scanId ?? (await ports.store.loadScan())?.scanId;
  if (scanId === undefined) throw new ConflictError('No scan has run yet: there are no failed records.');
  return { tracked, scanId };
}
