import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumerHandler } from '../../lambda/consumer/consumer-handler';
import type { ScanStreamRecord } from '../../lambda/consumer/parse-scan-record';
import { buildRecord } from '../../lambda/core/record-format';
import { createTable } from '../../local/local-resources';
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

describe('the example consumer, with idempotency in the local DynamoDB', () => {
  let stack: LocalStack;
  const processed: string[] = [];
  let handler: ReturnType<typeof createConsumerHandler>;

  beforeAll(async () => {
    stack = await startLocalStack();
    await createTable(stack.clients.dynamodb, {
      TableName: 'idempotency',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
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
