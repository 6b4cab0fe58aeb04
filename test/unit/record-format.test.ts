import { describe, expect, it } from 'vitest';
import { type AttributeMap, fromJsonMap, toJsonMap } from '../../lambda/core/attribute-value';
import { FatalScanError } from '../../lambda/core/errors';
import { buildRecord, itemSize, MAX_RECORD_BYTES, type RecordContext } from '../../lambda/core/record-format';

const context: RecordContext = {
  tableName: 'Orders',
  region: 'eu-west-1',
  keyAttributes: ['pk', 'sk'],
  scanId: 'scan-1',
  segment: 3,
  format: 'dynamodb-stream',
};

const item: AttributeMap = {
  sk: { N: '12345678901234567890123456789012345678' },
  pk: { S: 'customer#1' },
  blob: { B: new Uint8Array([0, 255, 128, 7]) },
  tags: { SS: ['a', 'b'] },
  scores: { NS: ['1.5', '-99999999999999999999999999999999999999'] },
  blobs: { BS: [new Uint8Array([1]), new Uint8Array([2, 3])] },
  nested: { M: { list: { L: [{ NULL: true }, { BOOL: false }, { S: '' }, { M: {} }, { L: [] }] } } },
};

function decode(data: Uint8Array): Record<string, unknown> & { dynamodb: Record<string, unknown> } {
  return JSON.parse(Buffer.from(data).toString('utf8'));
}

describe('buildRecord', () => {
  it('has the shape of a Kinesis Data Streams for DynamoDB INSERT record', () => {
    const record = decode(buildRecord(toJsonMap(item), context, 1_700_000_000_123).data);
    expect(record).toMatchObject({
      awsRegion: 'eu-west-1',
      eventName: 'INSERT',
      userIdentity: null,
      recordFormat: 'application/json',
      tableName: 'Orders',
      eventSource: 'aws:dynamodb',
      scan: { scanId: 'scan-1', segment: 3, scannedAt: 1_700_000_000_123 },
    });
    expect(record.eventID).toMatch(/^[0-9a-f]{32}$/);
    expect(record.dynamodb).toMatchObject({
      ApproximateCreationDateTime: 1_700_000_000_123,
      Keys: { pk: { S: 'customer#1' }, sk: { N: '12345678901234567890123456789012345678' } },
      SizeBytes: itemSize(toJsonMap(item)),
    });
    expect(Object.keys(record.dynamodb.Keys as object)).toEqual(['pk', 'sk']);
  });

  it('carries every attribute type without loss', () => {
    const record = decode(buildRecord(toJsonMap(item), context, 0).data);
    const image = fromJsonMap(record.dynamodb.NewImage);
    expect(image).toEqual(item);
    expect(record.dynamodb.NewImage).toMatchObject({ blob: { B: 'AP+ABw==' } });
  });

  it('derives the partition key from the item key alone', () => {
    const a = buildRecord(toJsonMap(item), context, 1);
    const sameItemOtherScan = buildRecord(
      toJsonMap({ ...item, extra: { S: 'changed' } }),
      { ...context, scanId: 'scan-2', segment: 0 },
      2,
    );
    const otherItem = buildRecord(toJsonMap({ ...item, sk: { N: '2' } }), context, 1);
    expect(a.partitionKey).toMatch(/^[0-9a-f]{32}$/);
    expect(sameItemOtherScan.partitionKey).toBe(a.partitionKey);
    expect(otherItem.partitionKey).not.toBe(a.partitionKey);
  });

  it('gives the same item the same eventID within a scan and a new one in the next scan', () => {
    const id = (ctx: RecordContext, at: number) => decode(buildRecord(toJsonMap(item), ctx, at).data).eventID;
    expect(id(context, 1)).toBe(id(context, 999));
    expect(id({ ...context, scanId: 'scan-2' }, 1)).not.toBe(id(context, 1));
  });

  it('keeps the partition key and eventID of earlier versions, so a chain resumed across an upgrade dedupes', () => {
    // Written by 3258c15, which built records from the SDK's typed items.
    const wire = toJsonMap({
      pk: { S: 'customer#1' },
      sk: { B: new Uint8Array([0, 255]) },
      n: { N: '1.50' },
      m: { M: { a: { SS: ['x'] } } },
    });
    const built = buildRecord(wire, { ...context, scanId: 'scan-1' }, 1_700_000_000_123);

    expect(built.partitionKey).toBe('33847e4c89efaec6938b3a4ec38c564d');
    expect(decode(built.data).eventID).toBe('a65281906ec3a2612627d1f37ca6084c');
  });

  it('writes Keys as earlier versions did, whatever the key names', () => {
    // An object puts integer-like names first; the canonical key (an array) keeps schema order.
    const wire = toJsonMap({ pk: { S: 'p' }, '1': { N: '7' } });
    const built = buildRecord(wire, { ...context, keyAttributes: ['pk', '1'] }, 0);

    expect(Buffer.from(built.data).toString('utf8')).toContain('"Keys":{"1":{"N":"7"},"pk":{"S":"p"}}');
  });

  it('keeps an attribute named __proto__ as an attribute', () => {
    const wire = JSON.parse('{"pk":{"S":"p"},"sk":{"N":"1"},"__proto__":{"S":"x"}}');
    const record = decode(buildRecord(wire, context, 0).data);

    expect(Object.hasOwn(record.dynamodb.NewImage as object, '__proto__')).toBe(true);
    expect(record.dynamodb.SizeBytes).toBe(itemSize(wire));
  });

  it('refuses an item whose record exceeds 1 MiB instead of dropping it', () => {
    const huge: AttributeMap = {
      pk: { S: 'p' },
      sk: { N: '1' },
      list: { L: Array.from({ length: 120_000 }, () => ({ N: '1' })) },
    };
    expect(() => buildRecord(toJsonMap(huge), context, 0)).toThrow(FatalScanError);
    expect(() => buildRecord(toJsonMap(huge), context, 0)).toThrow(
      `over the Kinesis record limit of ${MAX_RECORD_BYTES} bytes`,
    );
  });

  it('refuses an item without its key attributes', () => {
    expect(() => buildRecord({ pk: { S: 'p' } }, context, 0)).toThrow('An item has no key attribute "sk".');
  });
});

describe('attribute value JSON', () => {
  it('round-trips every type exactly', () => {
    expect(fromJsonMap(JSON.parse(JSON.stringify(toJsonMap(item))))).toEqual(item);
  });

  it.each([
    [{ a: { X: '1' } }, 'unknown type'],
    [{ a: { S: 1 } }, 'must be a string'],
    [{ a: { S: 'x', N: '1' } }, 'exactly one type key'],
    [{ a: { L: {} } }, 'must be an array'],
    [[], 'not a map'],
  ])('rejects malformed input %j', (json, message) => {
    expect(() => fromJsonMap(json)).toThrow(message);
  });
});
