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
import type { PageRequest } from '../../lambda/core/ports';
import { DEFAULT_SCAN_OPTIONS, type ScanOptions } from '../../lambda/core/scan-state';

const TABLE = 'orders';

const dynamodb = mockClient(DynamoDBClient);

function newReader(): DynamoDbPageReader {
  return new DynamoDbPageReader(new DynamoDBClient({ region: 'us-east-1', maxAttempts: 1 }), TABLE);
}

/** Segment 0 of a one-segment scan from the start, with the default options. */
function pageRequest(overrides: Partial<PageRequest> = {}): PageRequest {
  return {
    segment: 0,
    totalSegments: 1,
    exclusiveStartKey: null,
    options: DEFAULT_SCAN_OPTIONS,
    ...overrides,
  };
}

function withOptions(options: Partial<ScanOptions>): PageRequest {
  return pageRequest({ options: { ...DEFAULT_SCAN_OPTIONS, ...options } });
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
        sizeBytes: 0,
      });
    });

    it('returns only the partition key for a table without a sort key', async () => {
      dynamodb.on(DescribeTableCommand).resolves({
        Table: { TableName: TABLE, ItemCount: 0, KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] },
      });

      await expect(newReader().describeTable()).resolves.toEqual({
        keyAttributes: ['id'],
        itemCount: 0,
        sizeBytes: 0,
      });
    });

    it('returns TableSizeBytes as sizeBytes', async () => {
      dynamodb.on(DescribeTableCommand).resolves({
        Table: {
          TableName: TABLE,
          ItemCount: 5_000_000,
          TableSizeBytes: 3_221_225_472,
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        },
      });

      await expect(newReader().describeTable()).resolves.toEqual({
        keyAttributes: ['pk'],
        itemCount: 5_000_000,
        sizeBytes: 3_221_225_472,
      });
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

      await newReader().readPage(pageRequest({ exclusiveStartKey: startKey, limit: 250 }));

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

      await newReader().readPage(pageRequest({ segment: 2, totalSegments: 4 }));

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
      dynamodb.on(ScanCommand).resolves({
        Items: items,
        LastEvaluatedKey: startKey,
        Count: 2,
        ScannedCount: 2,
        ConsumedCapacity: { TableName: 'orders', CapacityUnits: 0.5 },
      });

      const page = await newReader().readPage(pageRequest());

      expect(page).toEqual({
        items: [
          { pk: { S: 'customer#1' }, sk: { B: 'AQ==' }, total: { N: '12.50' } },
          { pk: { S: 'customer#2' }, sk: { B: 'Ag==' }, tags: { SS: ['a', 'b'] } },
        ],
        scannedCount: 2,
        lastEvaluatedKey: startKey,
        readUnits: 0.5,
      });
    });

    it('returns lastEvaluatedKey null at the end of the segment', async () => {
      dynamodb.on(ScanCommand).resolves({ Items: [{ pk: { S: 'last' } }], Count: 1, ScannedCount: 1 });

      const page = await newReader().readPage(
        pageRequest({ segment: 3, totalSegments: 4, exclusiveStartKey: startKey }),
      );

      expect(page.lastEvaluatedKey).toBeNull();
      expect(page.items).toHaveLength(1);
    });

    it('returns no items for an empty page', async () => {
      dynamodb.on(ScanCommand).resolves({ Count: 0, ScannedCount: 0 });

      await expect(newReader().readPage(pageRequest())).resolves.toEqual({
        items: [],
        scannedCount: 0,
        lastEvaluatedKey: null,
        readUnits: 0,
      });
    });

    it('returns ScannedCount as scannedCount, which counts the items the filter dropped', async () => {
      dynamodb.on(ScanCommand).resolves({ Items: [{ pk: { S: 'kept' } }], Count: 1, ScannedCount: 40 });

      const page = await newReader().readPage(withOptions({ filterExpression: 'attribute_exists(total)' }));

      expect(page.scannedCount).toBe(40);
      expect(page.items).toEqual([{ pk: { S: 'kept' } }]);
    });

    it('passes the filter, projection, names, values and ConsistentRead from the options', async () => {
      const blob = Uint8Array.from([0, 1, 254, 255]);
      dynamodb.on(ScanCommand).resolves({ Items: [], Count: 0, ScannedCount: 12 });

      await newReader().readPage(
        withOptions({
          filterExpression: '#s = :open AND #b = :blob',
          projectionExpression: 'pk, sk, #s',
          expressionNames: { '#s': 'status', '#b': 'blob' },
          expressionValues: { ':open': { S: 'OPEN' }, ':blob': { B: blob } },
          consistentRead: true,
        }),
      );

      expect(dynamodb).toHaveReceivedCommandExactlyOnceWith(ScanCommand, {
        TableName: TABLE,
        FilterExpression: '#s = :open AND #b = :blob',
        ProjectionExpression: 'pk, sk, #s',
        ExpressionAttributeNames: { '#s': 'status', '#b': 'blob' },
        ExpressionAttributeValues: { ':open': { S: 'OPEN' }, ':blob': { B: blob } },
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      });
    });

    it('passes a binary expression value as the same bytes in a Uint8Array', async () => {
      const blob = Uint8Array.from([0, 1, 127, 128, 255]);
      dynamodb.on(ScanCommand).resolves({ Items: [] });

      await newReader().readPage(
        withOptions({ filterExpression: 'sk = :b', expressionValues: { ':b': { B: blob } } }),
      );

      const sent = scanInputs()[0]?.ExpressionAttributeValues?.[':b']?.B;
      expect(sent).toBeInstanceOf(Uint8Array);
      expect([...(sent ?? [])]).toEqual([0, 1, 127, 128, 255]);
    });

    it('omits the filter, projection, names, values and ConsistentRead when the options are null or false', async () => {
      dynamodb.on(ScanCommand).resolves({ Items: [] });

      await newReader().readPage(withOptions({ consistentRead: false }));

      const [input] = scanInputs();
      expect(input).toBeDefined();
      expect(input?.FilterExpression).toBeUndefined();
      expect(input?.ProjectionExpression).toBeUndefined();
      expect(input?.ExpressionAttributeNames).toBeUndefined();
      expect(input?.ExpressionAttributeValues).toBeUndefined();
      expect(input?.ConsistentRead).toBeUndefined();
    });

    it('passes a projection alone without a filter', async () => {
      dynamodb.on(ScanCommand).resolves({ Items: [] });

      await newReader().readPage(withOptions({ projectionExpression: 'pk, sk, total' }));

      const [input] = scanInputs();
      expect(input?.ProjectionExpression).toBe('pk, sk, total');
      expect(input?.FilterExpression).toBeUndefined();
      expect(input?.ExpressionAttributeValues).toBeUndefined();
    });

    it('turns ResourceNotFoundException into FatalScanError with the SDK error as cause', async () => {
      const sdkError = tableNotFound();
      dynamodb.on(ScanCommand).rejects(sdkError);

      const error = await newReader()
        .readPage(pageRequest())
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
        .readPage(pageRequest())
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect(error).toHaveProperty('cause', sdkError);
    });
  });
});
