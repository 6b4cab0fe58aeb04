import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { backoffDelay } from '../core/backoff';
import { batchRecords, recordBytes } from '../core/batching';
import { DeadlineError, FatalScanError } from '../core/errors';
import type { Clock, PutSummary, RecordSink, StreamDescription } from '../core/ports';
import type { OutboundRecord } from '../core/record-format';
import { translateAwsError } from './aws-errors';

export interface KinesisRecordSinkOptions {
  /** First backoff ceiling after a partial failure. @default 100 ms */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling. @default 5,000 ms */
  readonly maxDelayMs?: number;
  readonly random?: () => number;
  /**
   * Most PutRecords calls of one page in flight at once (a 1 MB page is about 6 batches of 500);
   * halved on throttling, raised by one after each clean batch. @default 8
   */
  readonly maxBatchesInFlight?: number;
}

/**
 * Writes records with PutRecords in batches of at most 500 records and 5 MiB. A partial failure
 * (HTTP 200 with FailedRecordCount) is not retried by the SDK: only the failed entries are sent
 * again, with exponential backoff and full jitter, until the caller's deadline.
 */
export class KinesisRecordSink implements RecordSink {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;
  private readonly maxBatchesInFlight: number;
  /** Additive increase, multiplicative decrease on Kinesis throttling. */
  private inFlightLimit: number;

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    private readonly clock: Clock,
    options: KinesisRecordSinkOptions = {},
  ) {
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.random = options.random ?? Math.random;
    this.maxBatchesInFlight = options.maxBatchesInFlight ?? 8;
    this.inFlightLimit = this.maxBatchesInFlight;
  }

  /**
   * Writes a page's batches concurrently, at most `maxBatchesInFlight` at a time: every call
   * costs a round trip, and the items of one page are distinct, so no item's copies reorder.
   */
  async putRecords(records: readonly OutboundRecord[], deadline: number): Promise<PutSummary> {
    let resent = 0;
    let bytes = 0;
    const batches = batchRecords(records);
    let next = 0;
    // Workers take batches while the adaptive limit allows; a worker numbered beyond it stops.
    const worker = async (index: number): Promise<void> => {
      while (next < batches.length && index < this.inFlightLimit) {
        const batch = batches[next++] as OutboundRecord[];
        resent += await this.putBatch(batch, deadline);
        bytes += batch.reduce((sum, r) => sum + recordBytes(r), 0);
      }
    };
    const workers = Math.min(this.maxBatchesInFlight, batches.length);
    await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
    return { records: records.length, bytes, resent };
  }

  /** PutRecords calls allowed in flight now. */
  get inFlight(): number {
    return this.inFlightLimit;
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

  /** Sends one batch until every entry is accepted; returns how many entries were resent. */
  private async putBatch(batch: readonly OutboundRecord[], deadline: number): Promise<number> {
    let pending: PutRecordsRequestEntry[] = batch.map((r) => ({
      Data: r.data,
      PartitionKey: r.partitionKey,
    }));
    let resent = 0;
    for (let attempt = 0; ; attempt++) {
      let failed: PutRecordsRequestEntry[];
      let reason: string;
      try {
        const output = await this.client.send(
          new PutRecordsCommand({ StreamName: this.streamName, Records: pending }),
        );
        const results = output.Records ?? [];
        if (results.length !== pending.length) {
          throw new FatalScanError(
            `PutRecords answered ${results.length} results for ${pending.length} records.`,
          );
        }
        failed = pending.filter((_, i) => results[i]?.ErrorCode !== undefined);
        reason = results.find((r) => r.ErrorCode !== undefined)?.ErrorCode ?? '';
      } catch (error) {
        const translated = translateAwsError(error, `PutRecords to ${this.streamName}`);
        if (translated instanceof FatalScanError) throw translated;
        failed = pending;
        reason = translated.message;
      }
      if (reason.includes('ProvisionedThroughputExceeded')) {
        // The stream is at capacity: halve the writes in flight rather than storm it.
        this.inFlightLimit = Math.max(1, Math.floor(this.inFlightLimit / 2));
      } else if (failed.length === 0 && attempt === 0) {
        this.inFlightLimit = Math.min(this.maxBatchesInFlight, this.inFlightLimit + 1);
      }
      if (failed.length === 0) return resent;
      const delay = backoffDelay(attempt, this.baseDelayMs, this.maxDelayMs, this.random);
      if (this.clock.now() + delay >= deadline) {
        throw new DeadlineError(
          `${failed.length} of ${batch.length} records still failing after ${attempt + 1} attempts (${reason}); out of time.`,
          attempt + 1,
        );
      }
      resent += failed.length;
      pending = failed;
      await this.clock.sleep(delay);
    }
  }
}
