import { hash } from 'node:crypto';
import { RecordFormat, type ScanRecordMetadata } from '../contract';
import { type AttributeValueJson, type ItemJson, setOwn } from './attribute-value';
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
 * Builds the record of one item, in one pass over it: the item arrives in DynamoDB's JSON form
 * (as the Scan response carried it), which is the form the record carries, so it is serialized
 * once, as it is, and never copied or converted. The default format has the shape of a Kinesis
 * Data Streams for DynamoDB record (eventName INSERT, typed attribute values, so a consumer of
 * live changes handles it unchanged), written around the item's JSON; the `item` format is the
 * plain item. Both carry a `scan` block with the scan id, segment and scan time.
 *
 * `eventID` is deterministic for (scan, item) so consumers can deduplicate; the partition key
 * is a hash of the item's key alone, so every copy of an item lands on the same shard.
 *
 * @throws FatalScanError when the record exceeds Kinesis's 1 MiB record limit: never dropped silently.
 */
export function buildRecord(item: ItemJson, context: RecordContext, scannedAt: number): OutboundRecord {
  const keys = pickKeys(item, context.keyAttributes);
  // The canonical key the hashes are taken of: the key attributes in key-schema order, one an
  // element, [{"pk":{"S":"a"}},{"sk":{"N":"1"}}] (an object would put a name like "1" first).
  let canonicalKey = '';
  for (const name of context.keyAttributes) {
    const member = `{${JSON.stringify(name)}:${JSON.stringify(keys[name])}}`;
    canonicalKey += canonicalKey === '' ? member : `,${member}`;
  }
  canonicalKey = `[${canonicalKey}]`;
  const partitionKey = hash('md5', canonicalKey, 'hex');
  const eventID = hash('sha256', `${context.scanId}\n${canonicalKey}`, 'hex').slice(0, 32);
  const scan: ScanRecordMetadata = { scanId: context.scanId, segment: context.segment, scannedAt };
  const text =
    context.format === RecordFormat.item
      ? JSON.stringify({
          eventID,
          tableName: context.tableName,
          keys: toPlainMap(keys),
          item: toPlainMap(item),
          scan,
        })
      : `{"awsRegion":${JSON.stringify(context.region)},"eventID":"${eventID}","eventName":"INSERT",` +
        `"userIdentity":null,"recordFormat":"application/json","tableName":${JSON.stringify(context.tableName)},` +
        `"dynamodb":{"ApproximateCreationDateTime":${scannedAt},"Keys":${JSON.stringify(keys)},"NewImage":${JSON.stringify(item)},` +
        `"SizeBytes":${itemSize(item)}},"eventSource":"aws:dynamodb","scan":${JSON.stringify(scan)}}`;
  const data = Buffer.from(text, 'utf8');
  const size = data.byteLength + partitionKey.length;
  if (size > MAX_RECORD_BYTES) {
    throw new FatalScanError(
      `The record of item ${canonicalKey} is ${size} bytes, over the Kinesis record limit of ${MAX_RECORD_BYTES} bytes.`,
    );
  }
  return { partitionKey, data };
}

/**
 * The plain JSON form used by the `item` format. Lossy by design: numbers become JSON numbers
 * (beyond about 15 significant digits they are rounded), sets become arrays, binary stays base64
 * text, and a string and a binary value look alike.
 */
export function toPlainValue(value: AttributeValueJson): unknown {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  if ('B' in value) return value.B;
  if ('SS' in value) return [...value.SS];
  if ('NS' in value) return value.NS.map(Number);
  if ('BS' in value) return [...value.BS];
  if ('M' in value) return toPlainMap(value.M);
  if ('L' in value) return value.L.map(toPlainValue);
  if ('NULL' in value) return null;
  return value.BOOL;
}

export function toPlainMap(map: ItemJson): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in map) setOwn(out, name, toPlainValue(map[name] as AttributeValueJson));
  return out;
}

/** The item's key attributes, in key-schema order. */
export function pickKeys(item: ItemJson, keyAttributes: readonly string[]): ItemJson {
  const keys: Record<string, AttributeValueJson> = {};
  for (const name of keyAttributes) {
    const value = Object.hasOwn(item, name) ? item[name] : undefined;
    if (value === undefined)
      throw new FatalScanError(`An item has no key attribute ${JSON.stringify(name)}.`);
    setOwn(keys, name, value);
  }
  return keys;
}

/** DynamoDB's item size rules (attribute names plus values), as reported in `SizeBytes`. */
export function itemSize(item: ItemJson): number {
  let size = 0;
  for (const name in item) size += Buffer.byteLength(name) + valueSize(item[name] as AttributeValueJson);
  return size;
}

function valueSize(value: AttributeValueJson): number {
  if ('S' in value) return Buffer.byteLength(value.S);
  if ('N' in value) return numberSize(value.N);
  if ('B' in value) return Buffer.byteLength(value.B, 'base64');
  if ('SS' in value) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if ('NS' in value) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if ('BS' in value) return value.BS.reduce((sum, b) => sum + Buffer.byteLength(b, 'base64'), 0);
  // Maps and lists: 3 bytes of overhead plus 1 byte per element.
  if ('M' in value) return 3 + Object.keys(value.M).length + itemSize(value.M);
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
