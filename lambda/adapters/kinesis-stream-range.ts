import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { translateAwsError } from './aws-errors';

/** A record read back from the stream. */
export interface StreamedRecord {
  readonly sequenceNumber: string;
  readonly data: Uint8Array;
}

/**
 * Records a GetRecords call asks for: a shard serves 2 MB/s of reads, shared with the
 * consumers' event source mappings, so a read back stays small (a consumer's batch is 100).
 */
const RECORDS_PER_CALL = 1_000;

/**
 * Reads the records of one shard between two sequence numbers (both included), as the
 * description of a failed batch names them. The stream keeps records 24 hours by default:
 * older ones are gone, and are not returned.
 */
export class KinesisStreamRange {
  constructor(
    private readonly client: KinesisClient,
    /** The stream's name or ARN. */
    private readonly stream: string,
  ) {}

  /** One record as it was put (data and partition key); null when the stream no longer keeps it. */
  async readRecord(
    shardId: string,
    sequenceNumber: string,
  ): Promise<{ data: Uint8Array; partitionKey: string } | null> {
    try {
      const { ShardIterator: iterator } = await this.client.send(
        new GetShardIteratorCommand({
          StreamName: this.streamName(),
          ShardId: shardId,
          ShardIteratorType: 'AT_SEQUENCE_NUMBER',
          StartingSequenceNumber: sequenceNumber,
        }),
      );
      const output = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1 }));
      const record = output.Records?.[0];
      if (record?.SequenceNumber !== sequenceNumber) return null;
      return { data: record.Data ?? new Uint8Array(), partitionKey: record.PartitionKey ?? '' };
    } catch (error) {
      // A sequence number past the stream's retention, or of a shard that has gone.
      const name = (error as Error | null)?.name;
      if (name === 'InvalidArgumentException' || name === 'ResourceNotFoundException') return null;
      throw translateAwsError(error, `Reading record ${sequenceNumber} of ${this.stream} back`);
    }
  }

  private streamName(): string {
    // The name, from an ARN too (arn:aws:kinesis:<region>:<account>:stream/<name>): the same account's stream.
    return this.stream.startsWith('arn:') ? this.stream.split('/').slice(1).join('/') : this.stream;
  }

  async read(shardId: string, from: string, to: string): Promise<StreamedRecord[]> {
    // The name, from an ARN too (arn:aws:kinesis:<region>:<account>:stream/<name>): the same account's stream.
    const target = {
      StreamName: this.stream.startsWith('arn:') ? this.stream.split('/').slice(1).join('/') : this.stream,
    };
    const last = BigInt(to);
    const records: StreamedRecord[] = [];
    try {
      let { ShardIterator: iterator } = await this.client.send(
        new GetShardIteratorCommand({
          ...target,
          ShardId: shardId,
          ShardIteratorType: 'AT_SEQUENCE_NUMBER',
          StartingSequenceNumber: from,
        }),
      );
      while (iterator) {
        const output = await this.client.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: RECORDS_PER_CALL }),
        );
        for (const record of output.Records ?? []) {
          if (BigInt(record.SequenceNumber ?? '0') > last) return records;
          records.push({
            sequenceNumber: record.SequenceNumber ?? '',
            data: record.Data ?? new Uint8Array(),
          });
        }
        if ((output.Records ?? []).length === 0 && (output.MillisBehindLatest ?? 0) === 0) return records;
        iterator = output.NextShardIterator;
      }
      return records;
    } catch (error) {
      throw translateAwsError(error, `Reading shard ${shardId} of ${this.stream} back`);
    }
  }
}
