import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';

/**
 * Every shard's records from its start (TRIM_HORIZON) to its end, `limit` records at a time,
 * shard after shard: what the local checks, the demo's consumer and the benchmark read.
 */
export async function* shardPages(
  client: KinesisClient,
  streamName: string,
  limit: number,
): AsyncGenerator<{ readonly shardId: string; readonly records: KinesisRecord[] }> {
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: streamName }));
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const output = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
      const records = output.Records ?? [];
      if (records.length > 0) yield { shardId: shard.ShardId ?? '', records };
      if (records.length === 0 && (output.MillisBehindLatest ?? 0) === 0) break;
      iterator = output.NextShardIterator;
    }
  }
}

/**
 * Reads every record of a stream from the start of each shard to its end.
 * Meant for local checks and small streams: it holds everything in memory.
 */
export async function readWholeStream(
  client: KinesisClient,
  streamName: string,
  onProgress: (recordsRead: number) => void = () => {},
): Promise<Uint8Array[]> {
  const records: Uint8Array[] = [];
  for await (const page of shardPages(client, streamName, 10_000)) {
    for (const record of page.records) if (record.Data) records.push(record.Data);
    onProgress(records.length);
  }
  return records;
}
