import { createHash } from 'node:crypto';
import type { PutEntry } from './faults';

/** Kinesis: a shard takes 1,000 records/s and 1 MiB/s of writes. */
const RECORDS_PER_SECOND = 1000;
const BYTES_PER_SECOND = 1024 * 1024;
const HASH_SPACE = 2n ** 128n;

/**
 * Per-shard write limits as Kinesis applies them: each shard owns an equal range of the 128-bit
 * MD5 hash of the partition key and has token buckets of 1,000 records/s and 1 MiB/s. An entry
 * over its shard's budget fails with ProvisionedThroughputExceededException.
 */
export class ShardLimits {
  private readonly buckets: { records: number; bytes: number; at: number }[];
  throttled = 0;
  admitted = 0;

  constructor(private readonly shards: number) {
    const now = Date.now();
    this.buckets = Array.from({ length: shards }, () => ({
      records: RECORDS_PER_SECOND,
      bytes: BYTES_PER_SECOND,
      at: now,
    }));
  }

  shardOf(partitionKey: string): number {
    const hash = BigInt(`0x${createHash('md5').update(partitionKey).digest('hex')}`);
    return Number((hash * BigInt(this.shards)) / HASH_SPACE);
  }

  /** Undefined when the entry fits its shard's budget, else the Kinesis error code. */
  admit(entry: PutEntry): string | undefined {
    const bucket = this.buckets[this.shardOf(entry.partitionKey)];
    if (bucket === undefined) return 'InternalFailure';
    const now = Date.now();
    const elapsed = (now - bucket.at) / 1000;
    bucket.records = Math.min(RECORDS_PER_SECOND, bucket.records + elapsed * RECORDS_PER_SECOND);
    bucket.bytes = Math.min(BYTES_PER_SECOND, bucket.bytes + elapsed * BYTES_PER_SECOND);
    bucket.at = now;
    if (bucket.records < 1 || bucket.bytes < entry.bytes) {
      this.throttled++;
      return 'ProvisionedThroughputExceededException';
    }
    bucket.records -= 1;
    bucket.bytes -= entry.bytes;
    this.admitted++;
    return undefined;
  }
}
