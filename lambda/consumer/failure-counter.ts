import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { DynamoDbProgressStore } from '../adapters/dynamodb-progress-store';
import { EventBridgeEventPublisher } from '../adapters/eventbridge-event-publisher';
import { KinesisStreamRange, type StreamedRecord } from '../adapters/kinesis-stream-range';
import { publishesMetrics } from '../adapters/powertools-metrics';
import { systemClock } from '../adapters/system';
import { ConsumerMetrics, ProgressEnv, ScannerDefaults, ScannerMetrics } from '../contract';
import { toJsonMap } from '../core/attribute-value';
import { publishIfProcessed } from '../core/consumer-progress';
import type { ProgressPorts } from '../core/ports';
import { NotAScanRecordError, parseScanRecord } from './parse-scan-record';

/** The part of an event source mapping's on-failure record that says which records failed. */
export interface FailedBatch {
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly streamArn?: string;
  /** Records in the batch, as Lambda reported it. */
  readonly batchSize?: number;
}

/**
 * Reads the description Lambda sends to a Kinesis event source mapping's on-failure destination
 * when a batch failed every retry (`KinesisBatchInfo`: shard, first and last sequence number).
 */
export function parseFailedBatch(body: string): FailedBatch {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    message = undefined;
  }
  const info = (message as { KinesisBatchInfo?: Record<string, unknown> } | undefined)?.KinesisBatchInfo;
  const field = (name: string) => (typeof info?.[name] === 'string' ? (info[name] as string) : undefined);
  const shardId = field('shardId');
  const start = field('startSequenceNumber');
  const end = field('endSequenceNumber');
  if (shardId === undefined || start === undefined || end === undefined || !/^\d+$/.test(start + end)) {
    throw new Error(
      `Invalid failure message: expected a Kinesis on-failure record with KinesisBatchInfo.shardId, startSequenceNumber and endSequenceNumber, received ${body.slice(0, 200)}`,
    );
  }
  const streamArn = field('streamArn');
  const batchSize = info?.batchSize;
  return {
    shardId,
    startSequenceNumber: start,
    endSequenceNumber: end,
    ...(streamArn ? { streamArn } : {}),
    ...(typeof batchSize === 'number' ? { batchSize } : {}),
  };
}

/** What counting one failed batch found. */
export interface FailedBatchCount {
  /** Records in the batch's range still on the stream, the scanner's or not. */
  readonly read: number;
  /** Scanner records among them. */
  readonly records: number;
  /** Of those, records newly counted as failed (not processed, nor counted before). */
  readonly failed: number;
}

/**
 * Counts the records of a batch that failed every retry of a consumer: reads them back from the
 * stream and marks each scanner record failed unless it is already counted (processed, or
 * failed in an earlier message: failure messages may come twice), then publishes "Scan
 * Processed" if these were the last. With a parallelization factor above 1, the range also holds
 * records of the shard's other lanes: one still in flight is counted failed and moves to
 * processed when its lane processes it.
 */
export async function countFailedBatch(
  consumer: string,
  batch: FailedBatch,
  read: (batch: FailedBatch) => Promise<StreamedRecord[]>,
  holder: string,
  ports: ProgressPorts,
): Promise<FailedBatchCount> {
  const byScan = new Map<
    string,
    { eventID: string; keys: Record<string, unknown>; shardId: string; sequenceNumber: string }[]
  >();
  let records = 0;
  const streamed = await read(batch);
  for (const record of streamed) {
    let parsed: ReturnType<typeof parseScanRecord>;
    try {
      parsed = parseScanRecord(record.data);
    } catch (error) {
      if (error instanceof NotAScanRecordError) continue;
      throw error;
    }
    records++;
    const keys = parsed.format === 'dynamodb-stream' ? toJsonMap(parsed.keys) : { ...parsed.keys };
    const failures = byScan.get(parsed.scan.scanId) ?? [];
    failures.push({
      eventID: parsed.eventID,
      keys,
      shardId: batch.shardId,
      sequenceNumber: record.sequenceNumber,
    });
    byScan.set(parsed.scan.scanId, failures);
  }
  let failed = 0;
  for (const [scanId, failures] of byScan) {
    failed += await ports.store.markFailed(consumer, scanId, failures, ports.clock.now());
    await publishIfProcessed(consumer, scanId, holder, ports);
  }
  return { read: streamed.length, records, failed };
}

/** A tracked consumer and the queue its failed batches are described in. */
export interface TrackedFailureQueue {
  readonly name: string;
  readonly failureQueueArn: string;
}

export interface FailureCounterOptions {
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
}

/**
 * The failure counter: an SQS handler on the on-failure queues of the tracked consumers (one
 * function for all of a scanner's). Each message is counted with `countFailedBatch` for the
 * consumer whose queue sent it; a message that cannot be counted is reported failed, and SQS
 * delivers it again.
 *
 * @example
 * export const handler = createFailureCounterHandler();
 */
export function createFailureCounterHandler(options: FailureCounterOptions = {}) {
  const env = options.env ?? process.env;
  const logger =
    options.logger ??
    new Logger({ serviceName: 'ddbscan-failures', logLevel: (env.POWERTOOLS_LOG_LEVEL ?? 'INFO') as 'INFO' });
  let composed:
    | {
        queues: Map<string, string>;
        ports: ProgressPorts;
        range: Map<string, KinesisStreamRange>;
        kinesis: KinesisClient;
      }
    | undefined;

  return async function handler(
    event: SQSEvent,
    context: { awsRequestId: string },
  ): Promise<SQSBatchResponse> {
    composed ??= compose(env, logger);
    const { queues, ports, kinesis } = composed;
    const failures: { itemIdentifier: string }[] = [];
    for (const message of event.Records) {
      const consumer = queues.get(message.eventSourceARN);
      try {
        if (consumer === undefined) {
          throw new Error(
            `The queue ${message.eventSourceARN} is not the failure queue of a tracked consumer.`,
          );
        }
        const batch = parseFailedBatch(message.body);
        const stream = batch.streamArn ?? env[ProgressEnv.streamName] ?? '';
        let range = composed.range.get(stream);
        if (range === undefined) {
          range = new KinesisStreamRange(kinesis, stream);
          composed.range.set(stream, range);
        }
        const reader = range;
        const counted = await countFailedBatch(
          consumer,
          batch,
          (b) => reader.read(b.shardId, b.startSequenceNumber, b.endSequenceNumber),
          context.awsRequestId,
          ports,
        );
        logger.warn('a batch failed every retry of the consumer', { consumer, ...batch, ...counted });
        emitFailed(env, consumer, counted.failed);
        if (batch.batchSize !== undefined && counted.read < batch.batchSize) {
          // Kept in the queue (its messages visible) rather than deleted: its scan cannot settle.
          throw new Error(
            `${batch.batchSize - counted.read} of the failed batch's ${batch.batchSize} records are no longer on the stream (past its retention): they cannot be counted; run the scan again for them.`,
          );
        }
      } catch (error) {
        logger.error('counting a failed batch failed; SQS delivers the message again', {
          consumer,
          messageId: message.messageId,
          error: error as Error,
        });
        failures.push({ itemIdentifier: message.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

function compose(env: Readonly<Record<string, string | undefined>>, logger: Logger) {
  const table = env[ProgressEnv.progressTable];
  if (!table) {
    throw new Error(
      `Invalid environment variable ${ProgressEnv.progressTable}: expected the progress table's name, received nothing.`,
    );
  }
  let tracked: unknown;
  try {
    tracked = JSON.parse(env[ProgressEnv.consumers] ?? '[]');
  } catch {
    tracked = undefined;
  }
  if (
    !Array.isArray(tracked) ||
    tracked.some(
      (t: Partial<TrackedFailureQueue>) =>
        typeof t?.name !== 'string' || typeof t.failureQueueArn !== 'string',
    )
  ) {
    throw new Error(
      `Invalid environment variable ${ProgressEnv.consumers}: expected a JSON array of {"name","failureQueueArn"}, received ${env[ProgressEnv.consumers]}.`,
    );
  }
  const region = env.AWS_REGION;
  const http = () => new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 30_000 });
  const dynamodb = new DynamoDBClient({
    region,
    endpoint: env.AWS_ENDPOINT_URL_DYNAMODB || undefined,
    requestHandler: http(),
  });
  // The Kinesis client needs HTTP/1.1 against local emulators (see createAwsClients).
  const kinesis = new KinesisClient({
    region,
    endpoint: env.AWS_ENDPOINT_URL_KINESIS || undefined,
    requestHandler: http(),
  });
  // PutEvents has no idempotency token: never resent by the SDK (see EventBridgeEventPublisher).
  const eventbridge = new EventBridgeClient({
    region,
    endpoint: env.AWS_ENDPOINT_URL_EVENTBRIDGE || undefined,
    maxAttempts: 1,
  });
  const ports: ProgressPorts = {
    store: new DynamoDbProgressStore(dynamodb, table),
    events: new EventBridgeEventPublisher(
      eventbridge,
      env[ProgressEnv.eventBusName] || ScannerDefaults.eventBusName,
    ),
    clock: systemClock,
    log: logger,
  };
  const queues = new Map((tracked as TrackedFailureQueue[]).map((t) => [t.failureQueueArn, t.name]));
  return { queues, ports, kinesis, range: new Map<string, KinesisStreamRange>() };
}

/** The failed-records metric the consumer's failure alarm watches. */
function emitFailed(
  env: Readonly<Record<string, string | undefined>>,
  consumer: string,
  failed: number,
): void {
  if (!publishesMetrics(env)) return;
  const metrics = new Metrics({ namespace: ScannerMetrics.namespace, serviceName: ScannerMetrics.service });
  metrics.addDimension(ConsumerMetrics.consumerDimension, consumer);
  metrics.addMetric(ConsumerMetrics.recordsFailed, MetricUnit.Count, failed);
  metrics.publishStoredMetrics();
}
