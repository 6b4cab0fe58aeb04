import type { OutboundRecord } from './record-format';

/** PutRecords: at most 500 records and 5 MiB (data plus partition keys) per request. */
export const MAX_BATCH_RECORDS = 500;
export const MAX_BATCH_BYTES = 5 * 1024 * 1024;

/**
 * Splits records, in order, into the fewest PutRecords requests that respect both limits, and
 * at most `maxRecords` records each.
 */
export function batchRecords(
  records: readonly OutboundRecord[],
  maxRecords = MAX_BATCH_RECORDS,
): OutboundRecord[][] {
  const most = Math.min(maxRecords, MAX_BATCH_RECORDS);
  const batches: OutboundRecord[][] = [];
  let current: OutboundRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = recordBytes(record);
    if (current.length > 0 && (current.length >= most || bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export function recordBytes(record: OutboundRecord): number {
  return record.data.byteLength + Buffer.byteLength(record.partitionKey);
}
