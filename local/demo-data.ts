import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchWriteItemCommand,
  type DynamoDBClient,
  type AttributeValue as SdkAttributeValue,
} from '@aws-sdk/client-dynamodb';
import type { AttributeMap, AttributeValue } from '../lambda/core/attribute-value';
import { createTable } from './local-resources';

/** DynamoDB: an item is at most 400 KB; BatchWriteItem takes at most 25 items. */
const BIG_BINARY_BYTES = 390_000;
const WRITE_BATCH = 25;

/**
 * Deterministic, varied items for the demo and the tests: composite key (pk string, sk number),
 * every attribute type (S, N with 38 digits, B, SS, NS, BS, M, L, BOOL, NULL, empty values),
 * and every `bigEvery`-th item near the 400 KB item limit.
 */
export function generateItems(
  count: number,
  options: { seed?: number; bigEvery?: number } = {},
): AttributeMap[] {
  const random = mulberry32(options.seed ?? 1);
  const bigEvery = options.bigEvery ?? 750;
  const items: AttributeMap[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = (n: number) => new Uint8Array(Array.from({ length: n }, () => Math.floor(random() * 256)));
    const item: Record<string, AttributeValue> = {
      pk: { S: `customer#${i % 97}` },
      sk: { N: String(i) },
      name: { S: i % 7 === 0 ? `Zoë ${i} — 東京 🚀` : `item ${i}` },
      amount: { N: i % 5 === 0 ? '12345678901234567890123456789012345678' : `-${i}.25` },
      tiny: { N: '0.000000000000000000000000000000000001' },
      blob: { B: bytes(1 + (i % 32)) },
      tags: { SS: ['a', `t${i % 3}`, `x${i}`] },
      scores: { NS: ['1', String(i + 2), '99999999999999999999999999999999999999'] },
      blobs: { BS: [bytes(3), bytes(5)] },
      address: {
        M: {
          city: { S: 'Lisbon' },
          zip: { N: String(1000 + i) },
          geo: { L: [{ N: '38.7' }, { N: '-9.1' }] },
        },
      },
      history: {
        L: [{ S: 'created' }, { N: String(i) }, { BOOL: i % 2 === 0 }, { NULL: true }, { M: {} }, { L: [] }],
      },
      active: { BOOL: i % 3 === 0 },
      deleted: { NULL: true },
      note: { S: '' },
    };
    if (bigEvery > 0 && i % bigEvery === bigEvery - 1) item.payload = { B: bytes(BIG_BINARY_BYTES) };
    items.push(item);
  }
  return items;
}

/** Creates the demo's table: pk (S) partition key, sk (N) sort key, on demand. */
export async function createDemoTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTable(client, {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    BillingMode: 'PAY_PER_REQUEST',
  });
}

/** Writes items with BatchWriteItem, resending unprocessed ones. */
export async function writeItems(
  client: DynamoDBClient,
  tableName: string,
  items: readonly AttributeMap[],
): Promise<void> {
  for (let i = 0; i < items.length; i += WRITE_BATCH) {
    let requests = items
      .slice(i, i + WRITE_BATCH)
      .map((item) => ({ PutRequest: { Item: item as Record<string, SdkAttributeValue> } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > 10)
        throw new Error(
          `BatchWriteItem left ${requests.length} items unprocessed after ${attempt} attempts.`,
        );
      if (attempt > 0) await sleep(50 * 2 ** attempt);
      const output = await client.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
      );
      requests = (output.UnprocessedItems?.[tableName] ?? []).map((r) => ({
        PutRequest: { Item: r.PutRequest?.Item ?? {} },
      }));
    }
  }
}

/** A small seeded PRNG, so generated data and randomized faults replay from their seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
