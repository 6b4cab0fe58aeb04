import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';

/** Polls until `isReady`; the emulators turn a new table or stream ACTIVE on a later tick. */
async function waitUntil(isReady: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (await isReady()) return;
    await sleep(10);
  }
  throw new Error(`${what} did not become ACTIVE within 5 s.`);
}

/** Creates a table and waits until it is ACTIVE (writes to a CREATING table fail with ResourceNotFoundException). */
export async function createTable(client: DynamoDBClient, input: CreateTableCommandInput): Promise<void> {
  await client.send(new CreateTableCommand(input));
  await waitUntil(async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: input.TableName }));
    return Table?.TableStatus === 'ACTIVE';
  }, `Table ${input.TableName}`);
}

/** Creates a provisioned stream and waits until it is ACTIVE. */
export async function createStream(client: KinesisClient, streamName: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
  await waitUntil(async () => {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    return StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
  }, `Stream ${streamName}`);
}

/**
 * Creates the consumers' progress table as the construct does: `pk` and `sk`, and the sparse
 * index of failed records (`failedOf`, `failedAt`).
 */
export async function createProgressTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTable(client, {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'failedOf', AttributeType: 'S' },
      { AttributeName: 'failedAt', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'failed',
        KeySchema: [
          { AttributeName: 'failedOf', KeyType: 'HASH' },
          { AttributeName: 'failedAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
    BillingMode: 'PAY_PER_REQUEST',
  });
}
