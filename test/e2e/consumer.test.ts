import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbProgressStore } from '../../lambda/adapters/dynamodb-progress-store';
import { createConsumerHandler } from '../../lambda/consumer/consumer-handler';
import { createFailureCounterHandler } from '../../lambda/consumer/failure-counter';
import type { ScanStreamRecord } from '../../lambda/consumer/parse-scan-record';
import { buildRecord } from '../../lambda/core/record-format';
import { mulberry32 } from '../../local/demo-data';
import { pollStream } from '../../local/kinesis-poller';
import { createProgressTable, createStream, createTable } from '../../local/local-resources';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { kinesisEventRecord } from '../fakes';

const context = {
  awsRequestId: 'r',
  functionName: 'consumer',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const scanned = (n: number) =>
  buildRecord(
    { pk: { S: `item-${n}` }, n: { N: String(n) } },
    {
      tableName: 'Orders',
      region: 'us-east-1',
      keyAttributes: ['pk'],
      scanId: 'scan-1',
      segment: 0,
      format: 'dynamodb-stream',
    },
    1,
  ).data;

/** The scanner's records of `count` items of a scan. */
function recordsOf(scanId: string, count: number) {
  return Array.from({ length: count }, (_, n) =>
    buildRecord(
      { pk: { S: `item-${n}` } },
      {
        tableName: 'Orders',
        region: 'us-east-1',
        keyAttributes: ['pk'],
        scanId,
        segment: 0,
        format: 'dynamodb-stream',
      },
      1,
    ),
  );
}

/** The consumers' idempotency table: partition key `id`. */
function createIdempotencyTable(stack: LocalStack): Promise<void> {
  return createTable(stack.clients.dynamodb, {
    TableName: 'idempotency',
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  });
}

describe('the example consumer, with idempotency in the local DynamoDB', () => {
  let stack: LocalStack;
  const processed: string[] = [];
  let handler: ReturnType<typeof createConsumerHandler>;

  beforeAll(async () => {
    stack = await startLocalStack();
    await createIdempotencyTable(stack);
    handler = createConsumerHandler({
      env: { ...stack.env, CONSUMER_IDEMPOTENCY_TABLE: 'idempotency', POWERTOOLS_LOG_LEVEL: 'SILENT' },
      process: async (record: ScanStreamRecord) => {
        if (record.format !== 'dynamodb-stream') throw new Error('unexpected format');
        const pk = record.keys.pk;
        if (pk === undefined || !('S' in pk)) throw new Error('no key');
        if (pk.S === 'item-poison') throw new Error('cannot index this item');
        processed.push(pk.S);
      },
    });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('reports exactly the records that failed, so only they are retried', async () => {
    processed.length = 0;
    const poison = buildRecord(
      { pk: { S: 'item-poison' } },
      {
        tableName: 'Orders',
        region: 'us-east-1',
        keyAttributes: ['pk'],
        scanId: 'scan-1',
        segment: 0,
        format: 'dynamodb-stream',
      },
      1,
    ).data;
    const event = {
      Records: [
        kinesisEventRecord(scanned(1), '1'),
        kinesisEventRecord(Buffer.from('{"eventSource":"aws:dynamodb"}'), '2'),
        kinesisEventRecord(scanned(2), '3'),
        kinesisEventRecord(poison, '4'),
      ],
    };

    const response = await handler(event, context);

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '2' }, { itemIdentifier: '4' }] });
    expect(processed).toEqual(['item-1', 'item-2']);
  });

  it('processes a record the scanner wrote twice only once', async () => {
    processed.length = 0;
    const first = await handler(
      { Records: [kinesisEventRecord(scanned(10), '10'), kinesisEventRecord(scanned(11), '11')] },
      context,
    );
    const again = await handler(
      { Records: [kinesisEventRecord(scanned(10), '12'), kinesisEventRecord(scanned(12), '13')] },
      context,
    );

    expect(first).toEqual({ batchItemFailures: [] });
    expect(again).toEqual({ batchItemFailures: [] });
    expect(processed).toEqual(['item-10', 'item-11', 'item-12']);
  });
});

describe('a tracked consumer, with its progress in the local DynamoDB', () => {
  let stack: LocalStack;
  const failOnce = new Set<string>();
  // One handler per execution environment: an environment runs one invocation at a time, so
  // concurrent batches go to different ones.
  let lanes: ReturnType<typeof createConsumerHandler>[];
  let store: DynamoDbProgressStore;

  beforeAll(async () => {
    stack = await startLocalStack();
    await createIdempotencyTable(stack);
    await createProgressTable(stack.clients.dynamodb, 'progress');
    store = new DynamoDbProgressStore(stack.clients.dynamodb, 'progress');
    const environment = () =>
      createConsumerHandler({
        env: {
          ...stack.env,
          CONSUMER_IDEMPOTENCY_TABLE: 'idempotency',
          CONSUMER_PROGRESS_TABLE: 'progress',
          CONSUMER_NAME: 'indexer',
          POWERTOOLS_LOG_LEVEL: 'SILENT',
        },
        process: async (record: ScanStreamRecord) => {
          // A flaky item fails its first attempt only, as a throttled downstream would.
          if (failOnce.delete(record.eventID)) throw new Error('downstream busy');
        },
      });
    lanes = [environment(), environment()];
  });
  afterAll(async () => {
    await stack.stop();
  });

  const processedEvents = (scanId: string) =>
    stack.eventbridge.events.filter(
      (e) => e.detailType === 'Scan Processed' && (e.detail as { scanId: string }).scanId === scanId,
    );

  it('counts each record once under duplicates, retried and bisected batches, partial failures and concurrency', async () => {
    const scanId = 'scan-exact';
    const records = recordsOf(scanId, 150);
    const random = mulberry32(7);
    // Every record is delivered 1 to 3 times (the scanner's second copies, Lambda's retries), in
    // shuffled batches of up to 40; a fifth of them fail their first attempt.
    const deliveries = records.flatMap((r, n) =>
      Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({ r, n })),
    );
    deliveries.sort(() => random() - 0.5);
    for (const { r } of deliveries) {
      if (random() < 0.2)
        failOnce.add((JSON.parse(Buffer.from(r.data).toString('utf8')) as { eventID: string }).eventID);
    }
    let sequence = 0;
    const batches: KinesisStreamEvent[] = [];
    for (let i = 0; i < deliveries.length; i += 40) {
      batches.push({
        Records: deliveries
          .slice(i, i + 40)
          .map(({ r }) => kinesisEventRecord(Buffer.from(r.data), String(++sequence))),
      });
    }
    // Two lanes at once (a parallelization factor of 2); a batch with failures is retried from its
    // first failed record, as ReportBatchItemFailures does, and also bisected (both halves sent).
    const run = async (batch: KinesisStreamEvent, lane: number): Promise<void> => {
      const response = await (lanes[lane] ?? fail())(batch, context).catch(() => ({
        batchItemFailures: [{ itemIdentifier: batch.Records[0]?.kinesis.sequenceNumber ?? '' }],
      }));
      const first = response?.batchItemFailures[0]?.itemIdentifier;
      if (first === undefined) return;
      const rest = batch.Records.slice(batch.Records.findIndex((r) => r.kinesis.sequenceNumber === first));
      const half = Math.ceil(rest.length / 2);
      await run({ Records: rest.slice(0, half) }, lane);
      if (rest.length > 1) await run({ Records: rest.slice(half) }, lane);
    };
    for (let i = 0; i < batches.length; i += 2) {
      await Promise.all(batches.slice(i, i + 2).map((batch, lane) => run(batch, lane)));
    }

    const counts = await store.read('indexer', scanId);
    expect(failOnce.size).toBe(0);
    expect(counts).toMatchObject({ processed: 150, failed: 0, total: null });
    // No total yet (the scan has not completed): no event.
    expect(processedEvents(scanId)).toHaveLength(0);
  });

  it('publishes one Scan Processed when the last batches finish together, and none for a repeat', async () => {
    const scanId = 'scan-event';
    const records = recordsOf(scanId, 60);
    await store.setTotal('indexer', scanId, 60);
    const batch = (from: number, to: number, first: number) => ({
      Records: records
        .slice(from, to)
        .map((r, i) => kinesisEventRecord(Buffer.from(r.data), String(first + i))),
    });
    const [one = fail(), two = fail()] = lanes;
    await one(batch(0, 20, 1000), context);
    await Promise.all([one(batch(20, 40, 2000), context), two(batch(40, 60, 3000), context)]);
    await two(batch(30, 60, 4000), context);

    const events = processedEvents(scanId);
    expect(events).toHaveLength(1);
    expect(events[0]?.detail).toMatchObject({
      scanId,
      consumer: 'indexer',
      total: 60,
      processed: 60,
      failed: 0,
    });
    expect((await store.read('indexer', scanId)).event).toMatchObject({ outcome: 'sent' });
  });

  it('fails the batch when the count cannot be written, so that Lambda retries it and it is counted once', async () => {
    const scanId = 'scan-retry';
    const records = recordsOf(scanId, 10);
    const event = {
      Records: records.map((r, i) => kinesisEventRecord(Buffer.from(r.data), String(5000 + i))),
    };
    stack.faults.rule = (call) =>
      call.service === 'dynamodb' && call.operation === 'TransactWriteItems'
        ? { kind: 'error', name: 'ValidationException', message: 'injected' }
        : undefined;
    const [handler = fail()] = lanes;
    await expect(handler(event, context)).rejects.toThrow('injected');
    stack.faults.rule = undefined;
    await handler(event, context);

    expect(await store.read('indexer', scanId)).toMatchObject({ processed: 10 });
  });
});

function fail(): never {
  throw new Error('no such lane');
}

describe('the failure counter, on the local stack', () => {
  it('counts the records of a batch that failed every retry once, so processed + failed = total', async () => {
    const stack = await startLocalStack();
    try {
      await createIdempotencyTable(stack);
      await createProgressTable(stack.clients.dynamodb, 'progress');
      await createStream(stack.clients.kinesis, 'scan-stream', 1);
      const scanId = 'scan-failures';
      const records = recordsOf(scanId, 30);
      await stack.clients.kinesis.send(
        new PutRecordsCommand({
          StreamName: 'scan-stream',
          Records: records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
        }),
      );
      const env = { ...stack.env, POWERTOOLS_LOG_LEVEL: 'SILENT' };
      const consumer = createConsumerHandler({
        env: {
          ...env,
          CONSUMER_IDEMPOTENCY_TABLE: 'idempotency',
          CONSUMER_PROGRESS_TABLE: 'progress',
          CONSUMER_NAME: 'indexer',
        },
        process: async (record) => {
          const key = JSON.stringify(record.keys);
          if (key.includes('"item-3"') || key.includes('"item-17"')) throw new Error('bad item');
        },
      });
      const queueArn = 'arn:aws:sqs:us-east-1:000000000000:indexer-failures';
      const counter = createFailureCounterHandler({
        env: {
          ...env,
          PROGRESS_TABLE: 'progress',
          PROGRESS_CONSUMERS: JSON.stringify([{ name: 'indexer', failureQueueArn: queueArn }]),
          PROGRESS_STREAM_NAME: 'scan-stream',
        },
      });
      const messages: string[] = [];
      const store = new DynamoDbProgressStore(stack.clients.dynamodb, 'progress');
      await store.setTotal('indexer', scanId, 30);

      const report = await pollStream(stack.clients.kinesis, 'scan-stream', consumer, {
        batchSize: 10,
        onFailure: async (body) => {
          messages.push(body);
        },
      });
      // Each message twice, as SQS may deliver it.
      for (const body of [...messages, ...messages]) {
        const answer = await counter(
          { Records: [{ messageId: body.slice(0, 20), body, eventSourceARN: queueArn } as never] },
          { awsRequestId: 'counter' },
        );
        expect(answer.batchItemFailures).toEqual([]);
      }

      // A batch some of whose records the stream no longer keeps stays in the queue.
      const [first = ''] = messages;
      const info = (JSON.parse(first) as { KinesisBatchInfo: { batchSize: number } }).KinesisBatchInfo;
      const shortened = JSON.stringify({
        ...JSON.parse(first),
        KinesisBatchInfo: { ...info, batchSize: info.batchSize + 5 },
      });
      const kept = await counter(
        { Records: [{ messageId: 'expired', body: shortened, eventSourceARN: queueArn } as never] },
        { awsRequestId: 'counter' },
      );
      expect(kept.batchItemFailures).toEqual([{ itemIdentifier: 'expired' }]);

      expect(report.failed).toBeGreaterThanOrEqual(2);
      expect(await store.read('indexer', scanId)).toMatchObject({ total: 30, processed: 28, failed: 2 });
      const failed = await store.listFailed('indexer', scanId, 10);
      expect(
        failed.map((f) => f.keys).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      ).toEqual([{ pk: { S: 'item-17' } }, { pk: { S: 'item-3' } }]);
      expect(failed.map((f) => [f.shardId, typeof f.sequenceNumber])).toEqual([
        ['shardId-000000000000', 'string'],
        ['shardId-000000000000', 'string'],
      ]);
      const events = stack.eventbridge.events.filter((e) => e.detailType === 'Scan Processed');
      expect(events.map((e) => e.detail)).toEqual([
        expect.objectContaining({ scanId, processed: 28, failed: 2, total: 30 }),
      ]);
    } finally {
      await stack.stop();
    }
  });
});
