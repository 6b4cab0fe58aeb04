import { randomUUID } from 'node:crypto';
import type { KinesisClient, _Record as KinesisRecord } from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { shardPages } from './stream-reader';

export type KinesisConsumer = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | undefined>;

export interface PollReport {
  readonly batches: number;
  readonly records: number;
  /** Records still failing after the retries (an event source mapping would send them to its on-failure destination). */
  readonly failed: number;
}

/**
 * A local stand-in for a Kinesis event source mapping: reads every shard from TRIM_HORIZON and
 * calls the consumer with Kinesis-event-shaped batches. With partial batch responses, a batch is
 * retried from its first failed record (up to `retries` times), as ReportBatchItemFailures does.
 */
export async function pollStream(
  client: KinesisClient,
  streamName: string,
  consumer: KinesisConsumer,
  options: {
    readonly batchSize?: number;
    readonly retries?: number;
    readonly region?: string;
    /** Called after each batch with the records read so far. */
    readonly onProgress?: (records: number) => void;
    /**
     * Receives the on-failure record of a batch that failed every retry, as an event source
     * mapping sends it to its on-failure destination (the JSON of an SQS message's body).
     */
    readonly onFailure?: (message: string) => Promise<void>;
  } = {},
): Promise<PollReport> {
  const batchSize = options.batchSize ?? 100;
  const region = options.region ?? 'us-east-1';
  const streamArn = `arn:aws:kinesis:${region}:000000000000:stream/${streamName}`;
  let batches = 0;
  let total = 0;
  let failed = 0;
  for await (const page of shardPages(client, streamName, batchSize)) {
    let records = page.records;
    total += records.length;
    for (let attempt = 0; records.length > 0; attempt++) {
      batches++;
      const event = {
        Records: records.map((r) => toEventRecord(r, page.shardId, streamArn, region)),
      };
      // A thrown error (Powertools throws when every record failed) fails the whole batch.
      const response = await consumer(event, context(streamName)).catch(() => ({
        batchItemFailures: [{ itemIdentifier: records[0]?.SequenceNumber ?? '' }],
      }));
      const firstFailed = response?.batchItemFailures?.[0]?.itemIdentifier;
      const index =
        firstFailed === undefined ? -1 : records.findIndex((r) => r.SequenceNumber === firstFailed);
      if (index < 0) break;
      if (attempt >= (options.retries ?? 3)) {
        const rest = records.slice(index);
        failed += rest.length;
        await options.onFailure?.(failureRecord(page.shardId, streamArn, rest, attempt + 1));
        break;
      }
      records = records.slice(index);
    }
    options.onProgress?.(total);
  }
  return { batches, records: total, failed };
}

/** Lambda's on-failure record of a Kinesis batch: metadata only, the records stay on the stream. */
function failureRecord(
  shardId: string,
  streamArn: string,
  records: KinesisRecord[],
  invokes: number,
): string {
  return JSON.stringify({
    requestContext: {
      requestId: randomUUID(),
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:local-consumer',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: invokes,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: {
      shardId,
      startSequenceNumber: records[0]?.SequenceNumber,
      endSequenceNumber: records.at(-1)?.SequenceNumber,
      approximateArrivalOfFirstRecord: records[0]?.ApproximateArrivalTimestamp?.toISOString(),
      approximateArrivalOfLastRecord: records.at(-1)?.ApproximateArrivalTimestamp?.toISOString(),
      batchSize: records.length,
      streamArn,
    },
  });
}

function toEventRecord(
  record: KinesisRecord,
  shardId: string,
  streamArn: string,
  region: string,
): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey ?? '',
      sequenceNumber: record.SequenceNumber ?? '',
      data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::000000000000:role/local-consumer`,
    awsRegion: region,
    eventSourceARN: streamArn,
  };
}

function context(streamName: string): Context {
  const deadline = Date.now() + 60_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `${streamName}-consumer`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${streamName}-consumer`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${streamName}-consumer`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
