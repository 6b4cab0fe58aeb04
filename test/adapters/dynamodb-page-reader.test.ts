import {
  type AttributeValue,
  DescribeTableCommand,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbPageReader } from '../../lambda/adapters/dynamodb-page-reader';
import { FatalScanError, TransientError } from '../../lambda/core/errors';

const TABLE = 'orders';

const dynamodb = mockClient(DynamoDBClient);

function newReader(): DynamoDbPageReader {
  return new DynamoDbPageReader(new DynamoDBClient({ region: 'us-east-1', maxAttempts: 1 }), TABLE);
}

function scanInputs(): ScanCommandInput[] {
  return dynamodb.commandCalls(ScanCommand).map((call) => call.args[0].input);
}

const tableNotFound = () =>
  new ResourceNotFoundException({
    message: 'Requested resource not found: Table: orders not found',
    $metadata: {},
  });

describe('DynamoDbPageReader', () => {
  beforeEach(() => {
    dynamodb.reset();
  });

  describe('describeTable', () => {
    it('returns the key attributes in HASH, RANGE order whatever the schema order', async () => {
      dynamodb.on(DescribeTableCommand, { TableName: TABLE }).resolves({
        Table: {
          TableName: TABLE,
          ItemCount: 1234,
          KeySchema: [
            { AttributeName: 'sk', KeyType: 'RANGE' },
            { AttributeName: 'pk', KeyType: 'HASH' },
          ],
        },
      });

      await expect(newReader().describeTable()).resolves.toEqual({
        keyAttributes: ['pk', 'sk'],
        itemCount: 1234,
      });
    });

    it('returns only the partition key for a table without a sort key', async () => {
      dynamodb.on(DescribeTableCommand).resolves({
        Table: { TableName: TABLE, ItemCount: 0, KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] },
      });

      await expect(newReader().describeTable()).resolves.toEqual({ keyAttributes: ['id'], itemCount: 0 });
    });

    it('turns ResourceNotFoundException into FatalScanError with the SDK error as cause', async () => {
      const sdkError = tableNotFound();
      dynamodb.on(DescribeTableCommand).rejects(sdkError);

      const error = await newReader()
        .describeTable()
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FatalScanError);
      expect(error).toHaveProperty('cause', sdkError);
    });
  });

  describe('readPage', () => {
    const startKey = { pk: { S: 'customer#7' }, sk: { B: Uint8Array.from([0, 255]) } };

    it('passes ExclusiveStartKey and Limit, asks for TOTAL consumed capacity and omits Segment for one segment', async () => {
      dynamodb.on(ScanCommand).resolves({ Items: [], LastEvaluatedKey: startKey });

      await newReader().readPage({ segment: 0, totalSegments: 1, exclusiveStartKey: startKey, limit: 250 });

      const [input] = scanInputs();
      expect(input).toEqual({
        TableName: TABLE,
        ExclusiveStartKey: startKey,
        Limit: 250,
        ReturnConsumedCapacity: 'TOTAL',
      });
      expect(input?.Segment).toBeUndefined();
      expect(input?.TotalSegments).toBeUndefined();
    });

    it('passes Segment and TotalSegments for a parallel scan', async () => {
      dynamodb.on(ScanCommand).resolves({ Items: [] });

      await newReader().readPage({ segment: 2, totalSegments: 4, exclusiveStartKey: null });

      expect(dynamodb).toHaveReceivedCommandExactlyOnceWith(ScanCommand, {
        TableName: TABLE,
        Segment: 2,
        TotalSegments: 4,
        ReturnConsumedCapacity: 'TOTAL',
      });
      const [input] = scanInputs();
      expect(input?.ExclusiveStartKey).toBeUndefined();
      expect(input?.Limit).toBeUndefined();
    });

    it('returns the items and the key to continue from', async () => {
      const items: Record<string, AttributeValue>[] = [
        { pk: { S: 'customer#1' }, sk: { B: Uint8Array.from([1]) }, total: { N: '12.50' } },
        { pk: { S: 'customer#2' }, sk: { B: Uint8Array.from([2]) }, tags: { SS: ['a', 'b'] } },
      ];
      dynamodb
        .on(ScanCommand)
        .resolves({ Items: items, LastEvaluatedKey: startKey, Count: 2, ScannedCount: 2 });

      const page = await newReader().readPage({ segment: 0, totalSegments: 1, exclusiveStartKey: null });

      expect(page).toEqual({ items, lastEvaluatedKey: startKey });
    });

    it('returns lastEvaluatedKey null at the end of the segment', async () => {
      dynamodb.on(ScanCommand).resolves({ Items: [{ pk: { S: 'last' } }], Count: 1, ScannedCount: 1 });

      const page = await newReader().readPage({ segment: 3, totalSegments: 4, exclusiveStartKey: startKey });

      expect(page.lastEvaluatedKey).toBeNull();
      expect(page.items).toHaveLength(1);
    });

    it('returns no items for an empty page', async () => {
      dynamodb.on(ScanCommand).resolves({ Count: 0, ScannedCount: 0 });

      await expect(
        newReader().readPage({ segment: 0, totalSegments: 1, exclusiveStartKey: null }),
      ).resolves.toEqual({
        items: [],
        lastEvaluatedKey: null,
      });
    });

    it('turns ResourceNotFoundException into FatalScanError with the SDK error as cause', async () => {
      const sdkError = tableNotFound();
      dynamodb.on(ScanCommand).rejects(sdkError);

      const error = await newReader()
        .readPage({ segment: 0, totalSegments: 1, exclusiveStartKey: null })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FatalScanError);
      expect(error).toHaveProperty('cause', sdkError);
    });

    it('turns throttling that outlasted the SDK retries into TransientError', async () => {
      const sdkError = new ProvisionedThroughputExceededException({
        message: 'Throughput exceeds the limit',
        $metadata: {},
      });
      dynamodb.on(ScanCommand).rejects(sdkError);

      const error = await newReader()
        .readPage({ segment: 0, totalSegments: 1, exclusiveStartKey: null })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect(error).toHaveProperty('cause', sdkError);
    });
  });
});
