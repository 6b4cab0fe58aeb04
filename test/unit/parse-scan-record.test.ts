import { KinesisDynamoDBStreamSchema } from '@aws-lambda-powertools/parser/schemas/kinesis';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { isScanRecord, NotAScanRecordError, parseScanRecord } from '../../lambda/consumer/parse-scan-record';
import type { RecordFormat } from '../../lambda/contract';
import { type AttributeMap, toJsonMap } from '../../lambda/core/attribute-value';
import { buildRecord, type RecordContext } from '../../lambda/core/record-format';
import { kinesisEventRecord } from '../fakes';

/** Every attribute type DynamoDB has, with the edge values it allows (empty strings; sets are never empty). */
const item: AttributeMap = {
  pk: { S: 'customer#1' },
  sk: { B: new Uint8Array([0, 1, 2, 255]) },
  text: { S: 'Zoë — 東京 🚀' },
  empty: { S: '' },
  big: { N: '12345678901234567890123456789012345678' },
  small: { N: '-0.000000000000000000000000000000000001' },
  count: { N: '42' },
  blob: { B: new Uint8Array([104, 105]) },
  emptyBlob: { B: new Uint8Array([]) },
  names: { SS: ['a', ''] },
  numbers: { NS: ['1', '2.5', '99999999999999999999999999999999999999'] },
  blobs: { BS: [new Uint8Array([1]), new Uint8Array([2, 3])] },
  map: { M: { nested: { M: { deep: { L: [{ S: 'x' }, { N: '1' }] } } }, none: { NULL: true } } },
  emptyMap: { M: {} },
  list: { L: [{ BOOL: true }, { NULL: true }, { SS: ['s'] }, { L: [] }] },
  flag: { BOOL: false },
  nothing: { NULL: true },
};

const context = (format: RecordFormat): RecordContext => ({
  tableName: 'Orders',
  region: 'eu-west-1',
  keyAttributes: ['pk', 'sk'],
  scanId: 'scan-1',
  segment: 2,
  format,
});

describe('parseScanRecord', () => {
  it('round-trips every attribute type exactly in the dynamodb-stream format', () => {
    const parsed = parseScanRecord(
      kinesisEventRecord(buildRecord(toJsonMap(item), context('dynamodb-stream'), 1_700_000_000_123).data),
    );
    expect(parsed).toMatchObject({
      format: 'dynamodb-stream',
      tableName: 'Orders',
      scan: { scanId: 'scan-1', segment: 2, scannedAt: 1_700_000_000_123 },
      keys: { pk: { S: 'customer#1' }, sk: { B: new Uint8Array([0, 1, 2, 255]) } },
    });
    expect(parsed.format === 'dynamodb-stream' && parsed.newImage).toEqual(item);
    expect(parsed.eventID).toMatch(/^[0-9a-f]{32}$/);
  });

  it('unmarshalls with util-dynamodb without loss when numbers are wrapped', () => {
    const parsed = parseScanRecord(buildRecord(toJsonMap(item), context('dynamodb-stream'), 0).data);
    if (parsed.format !== 'dynamodb-stream') throw new Error('wrong format');
    const native = unmarshall(parsed.newImage as never, { wrapNumbers: true });
    expect(String(native.big)).toBe('12345678901234567890123456789012345678');
    expect(native.names).toEqual(new Set(['a', '']));
    expect(native.sk).toEqual(new Uint8Array([0, 1, 2, 255]));
  });

  it('gives the plain item in the item format, with the documented losses', () => {
    const parsed = parseScanRecord(buildRecord(toJsonMap(item), context('item'), 0).data);
    expect(parsed).toMatchObject({ format: 'item', tableName: 'Orders', scan: { scanId: 'scan-1' } });
    if (parsed.format !== 'item') throw new Error('wrong format');
    expect(parsed.keys).toEqual({ pk: 'customer#1', sk: 'AAEC/w==' });
    expect(parsed.item).toMatchObject({
      text: 'Zoë — 東京 🚀',
      empty: '',
      count: 42,
      // Lossy, as documented: 38 digits become a double, sets become arrays, binary base64.
      big: 1.2345678901234568e37,
      names: ['a', ''],
      numbers: [1, 2.5, 1e38],
      blob: 'aGk=',
      emptyBlob: '',
      map: { nested: { deep: ['x', 1] }, none: null },
      emptyMap: {},
      list: [true, null, ['s'], []],
      flag: false,
      nothing: null,
    });
  });

  it.each([
    ['data that is not JSON', Buffer.from('not json'), 'is not a scanner record: its data is not JSON.'],
    ['a JSON array', Buffer.from('[]'), 'is not a scanner record: its data is not a JSON object.'],
    [
      'a live change record',
      Buffer.from(
        JSON.stringify({ eventSource: 'aws:dynamodb', eventName: 'MODIFY', dynamodb: { Keys: {} } }),
      ),
      'is not a scanner record: it has no valid "scan" block (it looks like a live change record).',
    ],
    [
      'a scanner record with a broken image',
      Buffer.from(
        JSON.stringify({
          eventID: 'e',
          tableName: 't',
          scan: { scanId: 's', segment: 0, scannedAt: 1 },
          dynamodb: { Keys: { pk: { X: 1 } } },
        }),
      ),
      'is not a valid scanner record: dynamodb.Keys.pk has unknown type "X".',
    ],
  ])('refuses %s, saying why', (_, data, message) => {
    expect(() => parseScanRecord(kinesisEventRecord(data))).toThrow(NotAScanRecordError);
    expect(() => parseScanRecord(kinesisEventRecord(data, '7'))).toThrow(`Record 7 ${message}`);
    expect(isScanRecord(data)).toBe(false);
  });
});

describe('records on the stream', () => {
  it('validate against the Powertools schema for DynamoDB stream records carried on Kinesis', () => {
    const record = kinesisEventRecord(
      buildRecord(toJsonMap(item), context('dynamodb-stream'), 1_700_000_000_123).data,
    );
    const parsed = KinesisDynamoDBStreamSchema.parse({ Records: [record] });
    expect(parsed.Records[0]?.kinesis.data).toMatchObject({
      eventName: 'INSERT',
      eventSource: 'aws:dynamodb',
      tableName: 'Orders',
    });
  });
});
