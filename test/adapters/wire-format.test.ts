import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { DynamoDbPageReader } from '../../lambda/adapters/dynamodb-page-reader';
import { KinesisRecordSink } from '../../lambda/adapters/kinesis-record-sink';
import { FatalScanError } from '../../lambda/core/errors';
import { DEFAULT_SCAN_OPTIONS } from '../../lambda/core/scan-state';
import { FakeClock } from '../fakes';

// What the adapters put on and take off the wire (the Scan response's items kept as sent, each
// record's data in the PutRecords body, only refused entries sent again), with real SDK clients
// over a fake HTTP handler: a client mock answers before any middleware runs, so it cannot show it.

interface SentRequest {
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** An HTTP handler that records each request and answers with the next of `answers`. */
function fakeHttp(answers: { status?: number; body: unknown }[]) {
  const sent: SentRequest[] = [];
  return {
    sent,
    handler: {
      handle: async (request: { headers: Record<string, string>; body?: unknown }) => {
        sent.push({ headers: request.headers, body: Buffer.from(request.body as Buffer).toString('utf8') });
        const answer = answers.shift() ?? { body: {} };
        return {
          response: {
            statusCode: answer.status ?? 200,
            headers: { 'content-type': 'application/x-amz-json-1.0' },
            body: Readable.from([Buffer.from(JSON.stringify(answer.body))]),
          },
        };
      },
    },
  };
}

const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };

describe('DynamoDbPageReader on the wire', () => {
  // As text: an object literal would take "__proto__" as its prototype, not an attribute.
  const scanAnswer = JSON.parse(`{
    "Items": [{
      "pk": {"S": "customer#1"},
      "sk": {"N": "12345678901234567890123456789012345678"},
      "blob": {"B": "AP+ABw=="},
      "blobs": {"BS": ["AQ==", "AgM="]},
      "nested": {"M": {"list": {"L": [{"NULL": true}, {"BOOL": false}, {"NS": ["1.5"]}]}}},
      "__proto__": {"S": "an attribute named __proto__"}
    }],
    "Count": 1,
    "ScannedCount": 3,
    "LastEvaluatedKey": {"pk": {"S": "customer#1"}, "sk": {"B": "AQ=="}},
    "ConsumedCapacity": {"TableName": "orders", "CapacityUnits": 1.5}
  }`);

  it('keeps the items exactly as DynamoDB sent them, and the rest as the SDK reads it', async () => {
    const http = fakeHttp([{ body: scanAnswer }]);
    const client = new DynamoDBClient({ region: 'us-east-1', credentials, requestHandler: http.handler });
    const page = await new DynamoDbPageReader(client, 'orders').readPage({
      segment: 0,
      totalSegments: 1,
      exclusiveStartKey: null,
      options: DEFAULT_SCAN_OPTIONS,
    });

    expect(JSON.stringify(page.items)).toBe(JSON.stringify(scanAnswer.Items));
    expect(Object.hasOwn(page.items[0] ?? {}, '__proto__')).toBe(true);
    expect(page.scannedCount).toBe(3);
    expect(page.readUnits).toBe(1.5);
    // The key to continue from is the SDK's, binary as bytes, as checkpoints store it.
    expect(page.lastEvaluatedKey).toEqual({ pk: { S: 'customer#1' }, sk: { B: Uint8Array.from([1]) } });
  });

  it('leaves an error response to the SDK, which names it', async () => {
    const http = fakeHttp([
      {
        status: 400,
        body: { __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', message: 'no table' },
      },
    ]);
    const client = new DynamoDBClient({ region: 'us-east-1', credentials, requestHandler: http.handler });
    const error = await new DynamoDbPageReader(client, 'orders')
      .readPage({ segment: 0, totalSegments: 1, exclusiveStartKey: null, options: DEFAULT_SCAN_OPTIONS })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FatalScanError);
    expect((error as FatalScanError).cause).toHaveProperty('name', 'ResourceNotFoundException');
  });
});

describe('KinesisRecordSink on the wire', () => {
  const records = [
    { partitionKey: 'a'.repeat(32), data: Buffer.from('{"first":"é"}') },
    { partitionKey: 'b'.repeat(32), data: new Uint8Array([0, 255, 7]) },
    { partitionKey: 'c'.repeat(32), data: Buffer.from('third') },
  ];

  function decodeBody(body: string): {
    StreamName: string;
    Records: { Data: string; PartitionKey: string }[];
  } {
    return JSON.parse(body);
  }

  it('sends every entry once with its data in base64, and a length that matches the body', async () => {
    const http = fakeHttp([
      { body: { FailedRecordCount: 0, Records: records.map(() => ({ SequenceNumber: '1', ShardId: 's' })) } },
    ]);
    const client = new KinesisClient({ region: 'us-east-1', credentials, requestHandler: http.handler });
    const sink = new KinesisRecordSink(client, 'scan-stream', new FakeClock());

    const put = await sink.putRecords(records, Number.POSITIVE_INFINITY);

    expect(put).toEqual({ records: 3, bytes: 14 + 3 + 5 + 3 * 32, resent: 0 });
    const [request] = http.sent;
    const body = decodeBody(request?.body ?? '');
    expect(body.StreamName).toBe('scan-stream');
    expect(body.Records.map((r) => [Buffer.from(r.Data, 'base64'), r.PartitionKey])).toEqual(
      records.map((r) => [Buffer.from(r.data), r.partitionKey]),
    );
    expect(request?.headers['content-length']).toBe(String(Buffer.byteLength(request?.body ?? '')));
    expect(request?.headers['x-amz-target']).toBe('Kinesis_20131202.PutRecords');
  });

  it('resends only the entries Kinesis refused', async () => {
    const http = fakeHttp([
      {
        body: {
          FailedRecordCount: 1,
          Records: [
            { SequenceNumber: '1', ShardId: 's' },
            { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' },
            { SequenceNumber: '2', ShardId: 's' },
          ],
        },
      },
      { body: { FailedRecordCount: 0, Records: [{ SequenceNumber: '3', ShardId: 's' }] } },
    ]);
    const client = new KinesisClient({ region: 'us-east-1', credentials, requestHandler: http.handler });
    const sink = new KinesisRecordSink(client, 'scan-stream', new FakeClock(), { random: () => 0 });

    const put = await sink.putRecords(records, Number.POSITIVE_INFINITY);

    expect(put).toMatchObject({ records: 3, resent: 1 });
    expect(http.sent).toHaveLength(2);
    expect(decodeBody(http.sent[1]?.body ?? '').Records).toEqual([
      { Data: Buffer.from([0, 255, 7]).toString('base64'), PartitionKey: 'b'.repeat(32) },
    ]);
  });
});
