import { createHash } from 'node:crypto';
import { RecordFormat, type ScanRecordMetadata } from '../contract';
import { type AttributeMap, type AttributeValue, setOwn, toJsonMap } from './attribute-value';
import { FatalScanError } from './errors';

/** Kinesis: a record's data blob plus its partition key at most 1 MiB. */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** What the scan knows about every record it builds. */
export interface RecordContext {
  readonly tableName: string;
  readonly region: string;
  /** Key attribute names in key-schema order: partition key, then sort key. */
  readonly keyAttributes: readonly string[];
  readonly scanId: string;
  readonly segment: number;
  readonly format: RecordFormat;
}

/** One record ready for PutRecords. */
export interface OutboundRecord {
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

/**
 * Builds the record of one item. The default format has the shape of a Kinesis Data Streams
 * for DynamoDB record (eventName INSERT, typed attribute values, so a consumer of live changes
 * handles it unchanged); the `item` format is the plain item. Both carry a `scan` block with the
 * scan id, segment and scan time.
 *
 * `eventID` is deterministic for (scan, item) so consumers can deduplicate; the partition key
 * is a hash of the item's key alone, so every copy of an item lands on the same shard.
 *
 * @throws FatalScanError when the record exceeds Kinesis's 1 MiB record limit: never dropped silently.
 */
export function buildRecord(item: AttributeMap, context: RecordContext, scannedAt: number): OutboundRecord {
  const keys = pickKeys(item, context.keyAttributes);
  const canonicalKey = JSON.stringify(
    context.keyAttributes.map((name) => toJsonMap({ [name]: keys[name] as AttributeValue })),
  );
  const partitionKey = hash('md5', canonicalKey);
  const eventID = hash('sha256', `${context.scanId}\n${canonicalKey}`).slice(0, 32);
  const scan: ScanRecordMetadata = { scanId: context.scanId, segment: context.segment, scannedAt };
  const body =
    context.format === RecordFormat.item
      ? { eventID, tableName: context.tableName, keys: toPlainMap(keys), item: toPlainMap(item), scan }
      : {
          awsRegion: context.region,
          eventID,
          eventName: 'INSERT',
          userIdentity: null,
          recordFormat: 'application/json',
          tableName: context.tableName,
          dynamodb: {
            ApproximateCreationDateTime: scannedAt,
            Keys: toJsonMap(keys),
            NewImage: toJsonMap(item),
            SizeBytes: itemSize(item),
          },
          eventSource: 'aws:dynamodb',
          scan,
        };
  const data = Buffer.from(JSON.stringify(body), 'utf8');
  const size = data.byteLength + Buffer.byteLength(partitionKey);
  if (size > MAX_RECORD_BYTES) {
    throw new FatalScanError(
      `The record of item ${canonicalKey} is ${size} bytes, over the Kinesis record limit of ${MAX_RECORD_BYTES} bytes.`,
    );
  }
  return { partitionKey, data };
}

/**
 * The plain JSON form used by the `item` format. Lossy by design: numbers become JSON numbers
 * (beyond about 15 significant digits they are rounded), sets become arrays, binary becomes
 * base64 text, and a string and a binary value look alike.
 */
export function toPlainValue(value: AttributeValue): unknown {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  if ('B' in value) return Buffer.from(value.B).toString('base64');
  if ('SS' in value) return [...value.SS];
  if ('NS' in value) return value.NS.map(Number);
  if ('BS' in value) return value.BS.map((b) => Buffer.from(b).toString('base64'));
  if ('M' in value) return toPlainMap(value.M);
  if ('L' in value) return value.L.map(toPlainValue);
  if ('NULL' in value) return null;
  return value.BOOL;
}

export function toPlainMap(map: AttributeMap): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).map(([name, value]) => [name, toPlainValue(value)]));
}

/** The item's key attributes, in key-schema order. */
export function pickKeys(item: AttributeMap, keyAttributes: readonly string[]): AttributeMap {
  const keys: Record<string, AttributeValue> = {};
  for (const name of keyAttributes) {
    const value = item[name];
    if (value === undefined)
      throw new FatalScanError(`An item has no key attribute ${JSON.stringify(name)}.`);
    setOwn(keys, name, value);
  }
  return keys;
}

/** DynamoDB's item size rules (attribute names plus values), as reported in `SizeBytes`. */
export function itemSize(item: AttributeMap): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name) + valueSize(value);
  return size;
}

function valueSize(value: AttributeValue): number {
  if ('S' in value) return Buffer.byteLength(value.S);
  if ('N' in value) return numberSize(value.N);
  if ('B' in value) return value.B.byteLength;
  if ('SS' in value) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if ('NS' in value) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if ('BS' in value) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  // Maps and lists: 3 bytes of overhead plus 1 byte per element.
  if ('M' in value) return 3 + Object.values(value.M).length + itemSize(value.M);
  if ('L' in value) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  return 1; // NULL and BOOL
}

// Numbers: about one byte per two significant digits, plus one.
function numberSize(n: string): number {
  const digits = n
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '');
  return Math.ceil(digits.length / 2) + 1;
}

function hash(algorithm: 'md5' | 'sha256', text: string): string {
  return createHash(algorithm).update(text).digest('hex');
}
