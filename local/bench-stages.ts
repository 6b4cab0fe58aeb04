import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DynamoDbPageReader } from '../lambda/adapters/dynamodb-page-reader';
import { KinesisRecordSink } from '../lambda/adapters/kinesis-record-sink';
import { RecordFormat } from '../lambda/contract';
import type { ItemJson } from '../lambda/core/attribute-value';
import { buildRecord, type OutboundRecord, type RecordContext } from '../lambda/core/record-format';
import { DEFAULT_SCAN_OPTIONS } from '../lambda/core/scan-state';

/** CPU µs per item of one stage, for the scanner and for the naive loop. */
export interface Stage {
  readonly stage: string;
  readonly scanner: number;
  readonly naive: number;
}

const PAGE = 500;

/**
 * Where a record's CPU goes, stage by stage, from the Scan response to the accepted PutRecords
 * answer: the scanner's code and the naive loop's (`runNaive` in bench.ts) on the same page of
 * 500 items of 400 bytes, with real SDK clients over an HTTP handler that answers at once from
 * memory, so the figures are the client side's CPU alone: no network, no emulator. Each figure
 * is the lowest of five rounds of 100 pages, in this process's CPU time (every thread of it, the
 * garbage collector's included).
 */
export async function measureStages(): Promise<Stage[]> {
  const wireItems = Array.from({ length: PAGE }, (_, i) => ({
    pk: { S: `customer#${i % 997}` },
    sk: { N: String(i) },
    payload: { S: 'x'.repeat(360) },
  }));
  const scanAnswer = JSON.stringify({
    Items: wireItems,
    Count: PAGE,
    ScannedCount: PAGE,
    LastEvaluatedKey: { pk: { S: 'customer#1' }, sk: { N: '499' } },
    ConsumedCapacity: { TableName: 'Bench', CapacityUnits: 25 },
  });
  const putAnswer = JSON.stringify({
    FailedRecordCount: 0,
    Records: wireItems.map((_, i) => ({
      SequenceNumber: `4959${String(i).padStart(52, '0')}`,
      ShardId: 's',
    })),
  });
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const dynamodb = new DynamoDBClient({
    region: 'us-east-1',
    credentials,
    requestHandler: answering(scanAnswer),
  });
  const kinesis = new KinesisClient({
    region: 'us-east-1',
    credentials,
    requestHandler: answering(putAnswer),
  });
  const reader = new DynamoDbPageReader(dynamodb, 'Bench');
  const sink = new KinesisRecordSink(kinesis, 'bench', { now: Date.now, sleep: async () => {} });
  const context: RecordContext = {
    tableName: 'Bench',
    region: 'us-east-1',
    keyAttributes: ['pk', 'sk'],
    scanId: 'scan-bench',
    segment: 0,
    format: RecordFormat.dynamodbStream,
  };
  const request = { segment: 0, totalSegments: 1, exclusiveStartKey: null, options: DEFAULT_SCAN_OPTIONS };

  let sdkItems: Record<string, unknown>[] = [];
  let items: readonly ItemJson[] = [];
  let records: OutboundRecord[] = [];
  let naiveEntries: { Data: Uint8Array; PartitionKey: string }[] = [];
  const read = {
    naive: await perItem(async () => {
      sdkItems = (await dynamodb.send(new ScanCommand({ TableName: 'Bench', Limit: PAGE }))).Items ?? [];
    }),
    scanner: await perItem(async () => {
      items = (await reader.readPage(request)).items;
    }),
  };
  const build = {
    naive: await perItem(() => {
      naiveEntries = sdkItems.map(naiveEntry);
    }),
    scanner: await perItem(() => {
      const scannedAt = Date.now();
      records = items.map((item) => buildRecord(item, context, scannedAt));
    }),
  };
  const put = {
    naive: await perItem(() =>
      kinesis.send(new PutRecordsCommand({ StreamName: 'bench', Records: naiveEntries })),
    ),
    scanner: await perItem(() => sink.putRecords(records, Number.POSITIVE_INFINITY)),
  };
  dynamodb.destroy();
  kinesis.destroy();
  const stage = (name: string, figures: { scanner: number; naive: number }): Stage => ({
    stage: name,
    ...figures,
  });
  return [
    stage('Scan answer to items', read),
    stage('item to record', build),
    stage('PutRecords request and answer', put),
    stage('total', {
      scanner: round(read.scanner + build.scanner + put.scanner),
      naive: round(read.naive + build.naive + put.naive),
    }),
  ];
}

/** The naive loop's record of an item: a small JSON wrapper, keyed by the MD5 of its key. */
export function naiveEntry(item: Record<string, unknown>): { Data: Uint8Array; PartitionKey: string } {
  return {
    Data: Buffer.from(
      JSON.stringify({
        eventSource: 'aws:dynamodb',
        scan: { scanId: 'naive' },
        dynamodb: { NewImage: item },
      }),
    ),
    PartitionKey: createHash('md5')
      .update(JSON.stringify([item.pk, item.sk]))
      .digest('hex'),
  };
}

/** An HTTP handler that answers every request at once with `body`. */
function answering(body: string) {
  const bytes = Buffer.from(body);
  return {
    handle: async () => ({
      response: {
        statusCode: 200,
        headers: { 'content-type': 'application/x-amz-json-1.1' },
        body: Readable.from([bytes]),
      },
    }),
  };
}

/** CPU µs per item of `step`, which handles one page: the lowest of five rounds after a warm-up. */
async function perItem(step: () => unknown): Promise<number> {
  const rounds = 100;
  for (let i = 0; i < rounds; i++) await step();
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < rounds; i++) await step();
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / rounds / PAGE);
  }
  return round(best);
}

function round(n: number): number {
  return Math.round(10 * n) / 10;
}
