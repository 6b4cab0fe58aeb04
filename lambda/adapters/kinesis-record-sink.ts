import { DescribeStreamSummaryCommand, type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { backoffDelay } from '../core/backoff';
import { batchRecords, recordBytes } from '../core/batching';
import { Semaphore } from '../core/concurrency';
import { DeadlineError, FatalScanError } from '../core/errors';
import type { Clock, PutOptions, PutSummary, RecordSink, StreamDescription } from '../core/ports';
import { AdaptiveRate, shardSeconds } from '../core/rate-limit';
import type { OutboundRecord } from '../core/record-format';
import { translateAwsError } from './aws-errors';

export interface KinesisRecordSinkOptions {
  /** First backoff ceiling after a partial failure. @default 100 ms */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling. @default 5,000 ms */
  readonly maxDelayMs?: number;
  readonly random?: () => number;
  /**
   * Most PutRecords calls in flight at once, across every page being written (a 1 MB page of
   * small items is about 6 batches of 500). @default 8
   */
  readonly maxBatchesInFlight?: number;
}

/**
 * Writes records with PutRecords in batches of at most 500 records and 5 MiB, several batches at
 * once. A partial failure (HTTP 200 with FailedRecordCount) is not retried by the SDK: only the
 * failed entries are sent again, with exponential backoff and full jitter, until the caller's
 * deadline. Throttling (ProvisionedThroughputExceeded) paces every later send to what the
 * stream accepts (`AdaptiveRate`), so a chain runs near its share of the stream's capacity
 * instead of resending most of its records.
 *
 * Resending is safe in both cases: a failed entry was not written, and a whole request the SDK
 * resends after a lost answer writes its records twice, a duplicate that consumers drop by
 * eventID (delivery is at least once).
 */
export class KinesisRecordSink implements RecordSink {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;
  private readonly inFlight: Semaphore;
  /** The pace of calls that bring none: unpaced until the stream throttles. */
  private readonly defaultPace: AdaptiveRate;

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    private readonly clock: Clock,
    options: KinesisRecordSinkOptions = {},
  ) {
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.random = options.random ?? Math.random;
    this.inFlight = new Semaphore(options.maxBatchesInFlight ?? 8);
    this.defaultPace = new AdaptiveRate(clock);
  }

  /**
   * Writes the records' batches concurrently: every call costs a round trip, and the items of
   * one page are distinct, so no item's copies reorder. Batches of every call share the
   * sink's bound on calls in flight, first come first served.
   */
  async putRecords(
    records: readonly OutboundRecord[],
    deadline: number,
    pace: AdaptiveRate = this.defaultPace,
    options: PutOptions = {},
  ): Promise<PutSummary> {
    const units = records.reduce((sum, r) => sum + shardSeconds(recordBytes(r)), 0);
    // A tenth of a second of the pace per request, but not fewer than 25 records: each request
    // is a round trip, and at a crawl it is better to wait between requests than to send many.
    const perRequest = Math.min(
      Math.max(25, Math.floor((pace.unitsPerRequest * records.length) / units)),
      pace.recordsPerRequest,
    );
    const batches = batchRecords(records, perRequest);
    // Settle every batch before answering: a caller that hands off must leave no call behind.
    const outcomes = await Promise.allSettled(
      batches.map((batch) => this.inFlight.run(() => this.putBatch(batch, deadline, pace, options))),
    );
    const total = { records: 0, bytes: 0, resent: 0 };
    // The batches are in the records' order: the prefix runs through every batch accepted whole
    // and the leading accepted records of the first that was not.
    const prefix = { records: 0, bytes: 0 };
    let whole = true;
    let timedOut: DeadlineError | undefined;
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected' && !(outcome.reason instanceof DeadlineError)) throw outcome.reason;
      const put = outcome.status === 'fulfilled' ? outcome.value : outcome.reason.partial;
      total.records += put.records;
      total.bytes += put.bytes;
      total.resent += put.resent;
      if (whole) {
        const leading = outcome.status === 'fulfilled' ? put : outcome.reason.acceptedPrefix;
        prefix.records += leading.records;
        prefix.bytes += leading.bytes;
      }
      if (outcome.status === 'rejected') {
        whole = false;
        timedOut ??= outcome.reason;
      }
    }
    // The page as a whole: what its batches got accepted before time ran out.
    if (timedOut !== undefined) throw new DeadlineError(timedOut.message, timedOut.attempts, total, prefix);
    return total;
  }

  async describeStream(): Promise<StreamDescription> {
    try {
      const { StreamDescriptionSummary: summary } = await this.client.send(
        new DescribeStreamSummaryCommand({ StreamName: this.streamName }),
      );
      return {
        mode: summary?.StreamModeDetails?.StreamMode === 'ON_DEMAND' ? 'ON_DEMAND' : 'PROVISIONED',
        openShards: summary?.OpenShardCount ?? 1,
      };
    } catch (error) {
      throw translateAwsError(error, `DescribeStreamSummary of ${this.streamName}`);
    }
  }

  /** Sends one batch until every entry is accepted; returns what was accepted and resent. */
  private async putBatch(
    batch: readonly OutboundRecord[],
    deadline: number,
    pace: AdaptiveRate,
    options: PutOptions,
  ): Promise<PutSummary> {
    const entries: BatchEntry[] = batch.map(batchEntry);
    let pending = entries;
    const done = { records: 0, bytes: 0, resent: 0 };
    // Entries stay in order as they are resent: every entry before the first one pending was accepted.
    const outOfTime = (message: string, attempts: number) => {
      const leading = entries.slice(0, pending[0]?.index ?? entries.length);
      const acceptedPrefix = { records: leading.length, bytes: leading.reduce((sum, e) => sum + e.bytes, 0) };
      return new DeadlineError(message, attempts, done, acceptedPrefix);
    };
    for (let attempt = 0; ; attempt++) {
      let failed: BatchEntry[];
      let reason: string;
      const units = pending.reduce((sum, e) => sum + shardSeconds(e.bytes), 0);
      // A first attempt goes no later than `sendBy`, so that the time after it is left to
      // resending what the stream refused. One that must go (an invocation's first page) waits
      // for the pace while there is time, and goes at once when there is not, up to the deadline.
      const until = attempt === 0 ? Math.min(deadline, options.sendBy ?? deadline) : deadline;
      const forceBy = attempt === 0 && options.atOnce === true ? deadline : undefined;
      const sentAt = await pace.acquire(units, pending.length, until, { forceBy });
      if (sentAt === undefined) {
        throw outOfTime(
          `${pending.length} of ${batch.length} records not sent: the stream's pace leaves no time before the deadline.`,
          attempt,
        );
      }
      try {
        const output = await this.client.send(
          new PutRecordsCommand({
            StreamName: this.streamName,
            Records: pending.map(({ record }) => ({ Data: record.data, PartitionKey: record.partitionKey })),
          }),
        );
        const results = output.Records ?? [];
        if (results.length !== pending.length) {
          throw new FatalScanError(
            `PutRecords answered ${results.length} results for ${pending.length} records.`,
          );
        }
        failed = pending.filter((_, i) => results[i]?.ErrorCode !== undefined);
        const codes = results.flatMap((r) => (r.ErrorCode === undefined ? [] : [r.ErrorCode]));
        // Throttling, when any entry was throttled: it is what the pace must answer.
        reason = codes.find((code) => code.includes(THROTTLED)) ?? codes[0] ?? '';
      } catch (error) {
        const translated = translateAwsError(error, `PutRecords to ${this.streamName}`);
        if (translated instanceof FatalScanError) throw translated;
        failed = pending;
        reason = translated.message;
      }
      const refused = new Set(failed);
      for (const entry of pending) {
        if (refused.has(entry)) continue;
        done.records++;
        done.bytes += entry.bytes;
      }
      if (failed.length < pending.length) pace.accepted();
      const throttled = reason.includes(THROTTLED);
      if (throttled) pace.throttled(sentAt);
      if (failed.length === 0) return done;
      // Throttled entries wait one step of the backoff, not a growing one: the pace, which the
      // throttling just slowed, spaces their resends. A growing wait would leave them behind the
      // records after them, and at a hand-off the checkpoint stops at the first record missing.
      const delay = backoffDelay(throttled ? 0 : attempt, this.baseDelayMs, this.maxDelayMs, this.random);
      if (this.clock.now() + delay >= deadline) {
        pending = failed;
        throw outOfTime(
          `${failed.length} of ${batch.length} records still failing after ${attempt + 1} attempts (${reason}); out of time.`,
          attempt + 1,
        );
      }
      done.resent += failed.length;
      pending = failed;
      await this.clock.sleep(delay);
    }
  }
}

/** The error code (and message) of an entry or request Kinesis throttled. */
const THROTTLED = 'ProvisionedThroughputExceeded';

/** A record of a batch, with its place in it and its size as Kinesis counts it. */
interface BatchEntry {
  readonly record: OutboundRecord;
  readonly index: number;
  /** Data plus partition key. */
  readonly bytes: number;
}

function batchEntry(record: OutboundRecord, index: number): BatchEntry {
  return { record, index, bytes: recordBytes(record) };
}
