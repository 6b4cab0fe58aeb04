import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';

/**
 * Reads every record of a stream from the start of each shard (TRIM_HORIZON) to its end.
 * Meant for local checks and small streams: it holds everything in memory.
 */
export async function readWholeStream(client: KinesisClient, streamName: string): Promise<Uint8Array[]> {
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: streamName }));
  const records: Uint8Array[] = [];
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const output = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of output.Records ?? []) if (record.Data) records.push(record.Data);
      if ((output.Records ?? []).length === 0 && (output.MillisBehindLatest ?? 0) === 0) break;
      iterator = output.NextShardIterator;
    }
  }
  return records;
}
