import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { DynamoDbProgressStore } from '../adapters/dynamodb-progress-store';
import { EventBridgeEventPublisher } from '../adapters/eventbridge-event-publisher';
import { publishesMetrics } from '../adapters/powertools-metrics';
import { systemClock } from '../adapters/system';
import { ConsumerEnv, ConsumerMetrics, ScannerDefaults, ScannerMetrics } from '../contract';
import { publishIfProcessed } from '../core/consumer-progress';
import type { ProgressPorts } from '../core/ports';
import { parseScanRecord, type ScanStreamRecord } from './parse-scan-record';

/** "Scan Processed" is published only with more than this left of the invocation. */
const PUBLISH_MARGIN_MS = 10_000;

/** How long a processed record id is remembered: longer than the stream keeps records (24 h by default). */
const REMEMBER_SECONDS = 7 * 24 * 3600;

export interface ConsumerOptions {
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The work done for each item, once per record id. @default logs the item's key */
  readonly process?: (record: ScanStreamRecord) => Promise<void>;
  readonly logger?: Logger;
}

/**
 * A consumer of the scanner's stream: Powertools batch processing, in shard order, with
 * partial batch responses (only failed records are retried), and Powertools idempotency on the record's
 * deterministic `eventID`, so a record the scanner wrote twice is processed once. A record
 * that is not the scanner's fails, and after the event source mapping's retries lands in its
 * on-failure queue.
 *
 * @example
 * export const handler = createConsumerHandler({
 *   process: async (record) => { if (record.format === 'dynamodb-stream') await index(record.newImage); },
 * });
 */
export function createConsumerHandler(options: ConsumerOptions = {}) {
  const env = options.env ?? process.env;
  const logger =
    options.logger ??
    new Logger({ serviceName: 'ddbscan-consumer', logLevel: (env.POWERTOOLS_LOG_LEVEL ?? 'INFO') as 'INFO' });
  const work =
    options.process ??
    (async (record) => logger.info('item', { eventID: record.eventID, keys: record.keys }));
  const processor = new BatchProcessor(EventType.KinesisDataStreams);
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'eventID',
    expiresAfterSeconds: REMEMBER_SECONDS,
  });
  let processOnce: ((record: ScanStreamRecord) => Promise<void>) | undefined;
  let tracking: Tracking | null | undefined;
  let dynamodb: DynamoDBClient | undefined;

  return async function handler(event: KinesisStreamEvent, context: Context) {
    dynamodb ??= new DynamoDBClient({
      endpoint: env.AWS_ENDPOINT_URL_DYNAMODB || undefined,
      region: env.AWS_REGION,
    });
    processOnce ??= makeIdempotent(work, {
      persistenceStore: new DynamoDBPersistenceLayer({
        tableName: required(env, ConsumerEnv.idempotencyTable),
        awsSdkV3Client: dynamodb,
      }),
      config,
    });
    tracking ??= trackingOf(env, dynamodb, logger);
    config.registerLambdaContext(context);
    // The records processed (or found processed) in this invocation, by scan.
    const succeeded = new Map<string, string[]>();
    const recordHandler = async (record: KinesisStreamRecord) => {
      const once = processOnce;
      if (once === undefined) throw new Error('the consumer is not initialized');
      const parsed = parseScanRecord(record);
      await once(parsed);
      const ids = succeeded.get(parsed.scan.scanId) ?? [];
      ids.push(parsed.eventID);
      succeeded.set(parsed.scan.scanId, ids);
    };
    // In shard order: the copies of an item arrive on one shard, in the order they were written.
    const response = await processPartialResponse(event, recordHandler, processor, {
      context,
      processInParallel: false,
    });
    if (tracking) await count(tracking, succeeded, context);
    return response;
  };
}

/** Where a tracked consumer counts, and as whom. */
interface Tracking {
  readonly consumer: string;
  readonly ports: ProgressPorts;
  /** Publishes the records newly counted, the metric the consumer's stall alarm watches. */
  readonly counted: (records: number) => void;
}

function trackingOf(
  env: Readonly<Record<string, string | undefined>>,
  dynamodb: DynamoDBClient,
  logger: Logger,
): Tracking | null {
  const table = env[ConsumerEnv.progressTable];
  if (!table) return null;
  const consumer = env[ConsumerEnv.consumerName] || env.AWS_LAMBDA_FUNCTION_NAME;
  if (!consumer) {
    throw new Error(
      `Invalid environment variable ${ConsumerEnv.consumerName}: expected the consumer's name (or AWS_LAMBDA_FUNCTION_NAME), received nothing.`,
    );
  }
  // PutEvents has no idempotency token: never resent by the SDK (see EventBridgeEventPublisher).
  const eventbridge = new EventBridgeClient({
    endpoint: env.AWS_ENDPOINT_URL_EVENTBRIDGE || undefined,
    region: env.AWS_REGION,
    maxAttempts: 1,
  });
  const bus = env[ConsumerEnv.eventBusName] || ScannerDefaults.eventBusName;
  const metrics = publishesMetrics(env);
  return {
    consumer,
    counted: (records) => {
      if (!metrics) return;
      const emf = new Metrics({ namespace: ScannerMetrics.namespace, serviceName: ScannerMetrics.service });
      emf.addDimension(ConsumerMetrics.consumerDimension, consumer);
      emf.addMetric(ConsumerMetrics.recordsProcessed, MetricUnit.Count, records);
      emf.publishStoredMetrics();
    },
    ports: {
      store: new DynamoDbProgressStore(dynamodb, table),
      events: new EventBridgeEventPublisher(eventbridge, bus),
      clock: systemClock,
      log: logger,
    },
  };
}

/**
 * Counts the batch's processed records and publishes "Scan Processed" when they were the last.
 * A failure to count fails the invocation: Lambda retries the batch, whose records are then
 * found processed (idempotency) and counted, each once. A count swallowed here would be lost.
 */
async function count(tracking: Tracking, succeeded: Map<string, string[]>, context: Context): Promise<void> {
  const { consumer, ports } = tracking;
  // A claim to publish taken just before a timeout would be left with no outcome ("unknown"):
  // near the end the next batch, or the scanner's watchdog, publishes instead.
  const publishes = context.getRemainingTimeInMillis() > PUBLISH_MARGIN_MS;
  for (const [scanId, eventIDs] of succeeded) {
    try {
      tracking.counted(await ports.store.markProcessed(consumer, scanId, eventIDs, ports.clock.now()));
      if (publishes) await publishIfProcessed(consumer, scanId, context.awsRequestId, ports);
    } catch (error) {
      ports.log.error('counting processed records failed; the batch is retried', {
        scanId,
        consumer,
        records: eventIDs.length,
        error: error as Error,
      });
      throw error;
    }
  }
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (!value)
    throw new Error(
      `Invalid environment variable ${name}: expected the idempotency table's name, received nothing.`,
    );
  return value;
}
