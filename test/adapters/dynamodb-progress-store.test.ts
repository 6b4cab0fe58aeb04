import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbProgressStore } from '../../lambda/adapters/dynamodb-progress-store';
import { TransientError } from '../../lambda/core/errors';

const dynamodb = mockClient(DynamoDBClient);
const noSleep = { now: () => 1_700_000_000_000, sleep: async () => {} };

function newStore(): DynamoDbProgressStore {
  return new DynamoDbProgressStore(new DynamoDBClient({ region: 'us-east-1' }), 'progress', noSleep, () => 0);
}

const ids = (count: number, prefix = 'a') =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(31, '0')}`);

function cancelled(reasons: { Code: string; Item?: Record<string, unknown> }[]) {
  return new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: reasons as never,
  });
}

function sent() {
  return dynamodb
    .commandCalls(TransactWriteItemsCommand)
    .map((call) => call.args[0].input.TransactItems ?? []);
}

beforeEach(() => {
  dynamodb.reset();
});

describe('DynamoDbProgressStore', () => {
  it('writes each record id once, 99 markers and one counter slot per transaction', async () => {
    dynamodb.on(TransactWriteItemsCommand).resolves({});
    const eventIDs = ids(150);

    const counted = await newStore().markProcessed('indexer', 'scan-1', [...eventIDs, eventIDs[0] ?? ''], 5);

    expect(counted).toBe(150);
    const [first = [], second = []] = sent();
    expect(first).toHaveLength(100);
    expect(second).toHaveLength(52);
    expect(first[0]?.Put).toMatchObject({
      Item: { pk: { S: 'indexer#scan-1#m10' }, sk: { S: eventIDs[0] }, s: { S: 'P' } },
      ConditionExpression: 'attribute_not_exists(sk)',
    });
    expect(first[99]?.Update).toMatchObject({
      Key: { pk: { S: 'indexer#scan-1' }, sk: { S: 'slot#0' } },
      ExpressionAttributeValues: { ':p': { N: '99' }, ':f': { N: '0' } },
    });
  });

  it('sends a transaction again without the records already counted, converting those counted as failed', async () => {
    const [done = '', failed = '', fresh = ''] = ids(3);
    dynamodb
      .on(TransactWriteItemsCommand)
      .rejectsOnce(
        cancelled([
          { Code: 'ConditionalCheckFailed', Item: { s: { S: 'P' } } },
          { Code: 'ConditionalCheckFailed', Item: { s: { S: 'F' } } },
          { Code: 'None' },
          { Code: 'None' },
        ]),
      )
      .resolves({});

    const counted = await newStore().markProcessed('indexer', 'scan-1', [done, failed, fresh], 5);

    expect(counted).toBe(2);
    const retry = sent()[1] ?? [];
    expect(retry).toHaveLength(3);
    expect(retry[0]?.Update).toMatchObject({ Key: { sk: { S: failed } }, ConditionExpression: '#s = :f' });
    expect(retry[1]?.Put?.Item?.sk).toEqual({ S: fresh });
    // One more processed, one fewer failed.
    expect(retry[2]?.Update?.ExpressionAttributeValues).toMatchObject({
      ':p': { N: '2' },
      ':f': { N: '-1' },
    });
  });

  it('reads the markers back when a cancellation gives no reasons', async () => {
    const [done = '', fresh = ''] = ids(2);
    dynamodb
      .on(TransactWriteItemsCommand)
      .rejectsOnce(new TransactionCanceledException({ message: 'cancelled', $metadata: {} }))
      .resolves({});
    dynamodb
      .on(BatchGetItemCommand)
      .resolves({ Responses: { progress: [{ sk: { S: done }, s: { S: 'P' } }] } });

    expect(await newStore().markProcessed('indexer', 'scan-1', [done, fresh], 5)).toBe(1);
    expect(
      dynamodb.commandCalls(BatchGetItemCommand)[0]?.args[0].input.RequestItems?.progress?.ConsistentRead,
    ).toBe(true);
    expect(sent()[1]?.map((item) => item.Put?.Item?.sk?.S ?? 'slot')).toEqual([fresh, 'slot']);
  });

  it('retries a transaction that a concurrent one cancelled, and gives up after ten with a TransientError', async () => {
    dynamodb
      .on(TransactWriteItemsCommand)
      .rejectsOnce(cancelled([{ Code: 'TransactionConflict' }, { Code: 'None' }]))
      .resolves({});
    expect(await newStore().markProcessed('indexer', 'scan-1', ids(1), 5)).toBe(1);

    dynamodb.reset();
    dynamodb
      .on(TransactWriteItemsCommand)
      .rejects(cancelled([{ Code: 'TransactionConflict' }, { Code: 'None' }]));
    await expect(newStore().markProcessed('indexer', 'scan-1', ids(1), 5)).rejects.toThrow(TransientError);
    expect(sent()).toHaveLength(10);
  });

  it('counts a failure only for a record with no marker, keeping its key for the failure list', async () => {
    const [counted = '', fresh = ''] = ids(2);
    dynamodb
      .on(TransactWriteItemsCommand)
      .rejectsOnce(
        cancelled([
          { Code: 'ConditionalCheckFailed', Item: { s: { S: 'P' } } },
          { Code: 'None' },
          { Code: 'None' },
        ]),
      )
      .resolves({});

    const added = await newStore().markFailed(
      'indexer',
      'scan-1',
      [
        { eventID: counted, keys: { pk: { S: 'a' } } },
        { eventID: fresh, keys: { pk: { S: 'b' } } },
      ],
      7,
    );

    expect(added).toBe(1);
    const retry = sent()[1] ?? [];
    expect(retry[0]?.Put?.Item).toMatchObject({
      s: { S: 'F' },
      failedOf: { S: 'indexer#scan-1' },
      failedAt: { N: '7' },
      keys: { S: '{"pk":{"S":"b"}}' },
    });
    expect(retry[1]?.Update?.ExpressionAttributeValues).toMatchObject({ ':f': { N: '1' } });
  });

  it('reads the counts as the sum of the slots, with the total and the event claim of the head', async () => {
    dynamodb.on(QueryCommand).resolves({
      Items: [
        { sk: { S: 'head' }, total: { N: '10' }, event: { M: { holder: { S: 'r1' }, at: { N: '9' } } } },
        {
          sk: { S: 'slot#1' },
          processed: { N: '4' },
          failed: { N: '1' },
          firstAt: { N: '3' },
          lastAt: { N: '8' },
        },
        {
          sk: { S: 'slot#7' },
          processed: { N: '5' },
          failed: { N: '0' },
          firstAt: { N: '2' },
          lastAt: { N: '6' },
        },
      ],
    });

    expect(await newStore().read('indexer', 'scan-1')).toEqual({
      total: 10,
      processed: 9,
      failed: 1,
      firstAt: 2,
      lastAt: 8,
      event: { holder: 'r1', at: 9 },
    });
    expect(dynamodb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: 'indexer#scan-1' } },
      ConsistentRead: true,
    });
  });

  it('gives the right to publish to one holder, also when its own claim was sent twice', async () => {
    const refused = (holder: string) =>
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: { event: { M: { holder: { S: holder }, at: { N: '1' } } } } as never,
      });
    dynamodb.on(UpdateItemCommand).resolvesOnce({}).rejectsOnce(refused('r1')).rejectsOnce(refused('r1'));
    const store = newStore();

    expect(await store.claimEvent('indexer', 'scan-1', 'r1', 1)).toBe(true);
    expect(await store.claimEvent('indexer', 'scan-1', 'r2', 1)).toBe(false);
    expect(await store.claimEvent('indexer', 'scan-1', 'r1', 1)).toBe(true);
    expect(dynamodb.commandCalls(UpdateItemCommand)[0]?.args[0].input).toMatchObject({
      // The head never expires: outliving its counters, it would let the event be published again.
      UpdateExpression: 'SET #e = :e',
      ConditionExpression: 'attribute_not_exists(#e)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });
});
