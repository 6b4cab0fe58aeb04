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
