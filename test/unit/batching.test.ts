import { describe, expect, it } from 'vitest';
import { batchRecords, MAX_BATCH_BYTES, recordBytes } from '../../lambda/core/batching';
import type { OutboundRecord } from '../../lambda/core/record-format';

const record = (bytes: number, key = 'k'): OutboundRecord => ({
  partitionKey: key,
  data: new Uint8Array(bytes),
});

describe('batchRecords', () => {
  it('puts at most 500 records in a batch', () => {
    const batches = batchRecords(Array.from({ length: 1201 }, () => record(10)));
    expect(batches.map((b) => b.length)).toEqual([500, 500, 201]);
  });

  it('keeps each batch within 5 MiB, partition keys included', () => {
    const big = Array.from({ length: 12 }, () => record(1024 * 1024 - 1, 'pk'));
    const batches = batchRecords(big);
    for (const batch of batches) {
      expect(batch.reduce((sum, r) => sum + recordBytes(r), 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
    expect(batches.map((b) => b.length)).toEqual([4, 4, 4]);
  });

  it('keeps the records in order and loses none', () => {
    const records = Array.from({ length: 777 }, (_, i) => record(1 + (i % 5000) * 100, String(i)));
    expect(batchRecords(records).flat()).toEqual(records);
  });

  it('returns no batch for no records', () => {
    expect(batchRecords([])).toEqual([]);
  });
});
