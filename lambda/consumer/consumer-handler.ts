import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { ConsumerEnv } from '../contract';
import { parseScanRecord, type ScanStreamRecord } from './parse-scan-record';

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

  return async function handler(event: KinesisStreamEvent, context: Context) {
    processOnce ??= makeIdempotent(work, {
      persistenceStore: new DynamoDBPersistenceLayer({
        tableName: required(env, ConsumerEnv.idempotencyTable),
        awsSdkV3Client: new DynamoDBClient({
          endpoint: env.AWS_ENDPOINT_URL_DYNAMODB || undefined,
          region: env.AWS_REGION,
        }),
      }),
      config,
    });
    config.registerLambdaContext(context);
    const recordHandler = async (record: KinesisStreamRecord) => {
      const once = processOnce;
      if (once === undefined) throw new Error('the consumer is not initialized');
      await once(parseScanRecord(record));
    };
    // In shard order: the copies of an item arrive on one shard, in the order they were written.
    return processPartialResponse(event, recordHandler, processor, { context, processInParallel: false });
  };
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (!value)
    throw new Error(
      `Invalid environment variable ${name}: expected the idempotency table's name, received nothing.`,
    );
  return value;
}
