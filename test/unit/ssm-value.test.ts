import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AttributeMap, AttributeValue } from '../../lambda/core/attribute-value';
import {
  DEFAULT_SCAN_OPTIONS,
  decodeScan,
  decodeSegment,
  encodeScan,
  encodeSegment,
  MAX_ERROR_CHARS,
  type ScanRecord,
  type SegmentCheckpoint,
} from '../../lambda/core/scan-state';
import { clipText, decodeKey, encodeKey, ssmJson } from '../../lambda/core/ssm-value';

/** DynamoDB's key limits: partition key 2,048 bytes, sort key 1,024, attribute names 255. */
const PARTITION_BYTES = 2048;
const SORT_BYTES = 1024;
const NAME_BYTES = 255;

/** What SSM refuses in a value, besides its length: a `{{…}}` parameter reference. */
function ssmWouldRefuse(value: string): boolean {
  return /\{\{[\s\S]*\}\}/.test(value) || value.length > 8192;
}

/** The longest prefix of `text` that is at most `bytes` UTF-8 bytes, never a split character. */
function fitBytes(text: string, bytes: number): string {
  let out = '';
  for (const char of text) {
    if (Buffer.byteLength(out + char) > bytes) break;
    out += char;
  }
  return out;
}

/** Characters JSON escapes into six: control characters, quotes and braces around them. */
const ESCAPE_HEAVY = `\u0000\u0001\u001f"\\{}\u2028\u007f{{}}`;

const keyString = (bytes: number) =>
  fc
    .oneof(
      fc.string({ unit: 'binary', maxLength: bytes }),
      fc.string({
        unit: fc.constantFrom(...ESCAPE_HEAVY),
        minLength: Math.floor(bytes / 2),
        maxLength: bytes,
      }),
      fc.constantFrom('{{resolve:x}}', '{{ssm:/a}}', '}}{{', ESCAPE_HEAVY.repeat(200)),
    )
    .map((s) => fitBytes(s, bytes))
    .filter((s) => s.length > 0);

const keyValue = (bytes: number): fc.Arbitrary<AttributeValue> =>
  fc.oneof(
    keyString(bytes).map((S) => ({ S })),
    fc.uint8Array({ minLength: 1, maxLength: bytes }).map((B) => ({ B })),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => ({ N: String(n) })),
  );

const keyName = keyString(NAME_BYTES);

const tableKey: fc.Arbitrary<AttributeMap> = fc
  .tuple(keyName, keyValue(PARTITION_BYTES), fc.option(fc.tuple(keyName, keyValue(SORT_BYTES))))
  .filter(([pk, , sort]) => sort === null || sort[0] !== pk)
  .map(([pk, pv, sort]) => (sort === null ? { [pk]: pv } : { [pk]: pv, [sort[0]]: sort[1] }));

/** The largest key, all of it characters JSON would escape. */
const worstKey: AttributeMap = {
  [fitBytes('\u0001'.repeat(NAME_BYTES), NAME_BYTES)]: { S: '\u0001'.repeat(PARTITION_BYTES) },
  [fitBytes('{'.repeat(NAME_BYTES), NAME_BYTES)]: { S: '{{}}"\\'.repeat(SORT_BYTES).slice(0, SORT_BYTES) },
};

const checkpoint: SegmentCheckpoint = {
  scanId: '20261201T101500Z-4f2a9c',
  segment: 999_999,
  currentSegment: 999_999,
  totalSegments: 1_000_000,
  generation: Number.MAX_SAFE_INTEGER,
  owner: 'f'.repeat(36),
  state: 'FAILED',
  position: null,
  itemsScanned: Number.MAX_SAFE_INTEGER,
  recordsPut: Number.MAX_SAFE_INTEGER,
  bytesPut: Number.MAX_SAFE_INTEGER,
  handoffs: Number.MAX_SAFE_INTEGER,
  handedOffBy: 'f'.repeat(36),
  stalls: 3,
  relaunches: 3,
  updatedAt: Number.MAX_SAFE_INTEGER,
  error: null,
};

describe('checkpoint positions', () => {
  it('round-trip every legal key, in a value SSM accepts', () => {
    fc.assert(
      fc.property(tableKey, (key) => {
        const text = encodeSegment({ ...checkpoint, position: key });
        expect(ssmWouldRefuse(text)).toBe(false);
        expect(text).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeSegment(text).position).toEqual(key);
      }),
      { numRuns: 500 },
    );
  });

  it('keep the largest, most escape-heavy key with an error quoting it under 6,300 characters', () => {
    const error = `DynamoDB said: ${JSON.stringify(worstKey)}`.repeat(20);
    const text = encodeSegment({ ...checkpoint, position: worstKey, error });
    expect(encodeKey(worstKey)).toHaveLength(4792);
    expect(text.length).toBeLessThan(6300);
    expect(ssmWouldRefuse(text)).toBe(false);
    expect(decodeSegment(text).position).toEqual(worstKey);
    expect(decodeSegment(text).error?.length).toBeLessThanOrEqual(MAX_ERROR_CHARS);
  });

  it('pack a 1,506-byte key of control characters that JSON would inflate past the limit', () => {
    const key = { pk: { S: '\u0001'.repeat(1506) } };
    expect(JSON.stringify(key).length).toBeGreaterThan(9000);
    expect(encodeSegment({ ...checkpoint, position: key }).length).toBeLessThan(2600);
  });

  it('read a checkpoint written by the previous version, whose position is a JSON map', () => {
    const v1 = JSON.stringify({
      v: 1,
      ...checkpoint,
      state: 'RUNNING',
      position: { pk: { S: 'a' }, bin: { B: 'AAH+/w==' } },
    });
    expect(decodeSegment(v1).position).toEqual({
      pk: { S: 'a' },
      bin: { B: new Uint8Array([0, 1, 254, 255]) },
    });
  });

  it('keep a key attribute named __proto__ (found by the property above)', () => {
    const key = JSON.parse('{"__proto__":{"S":"a"},"sk":{"N":"1"}}') as AttributeMap;
    expect(Object.keys(decodeKey(encodeKey(key)))).toEqual(['__proto__', 'sk']);
    expect(decodeSegment(encodeSegment({ ...checkpoint, position: key })).position).toEqual(key);
  });

  it('refuse a value that is not a key, naming what is wrong', () => {
    expect(() => encodeKey({ pk: { BOOL: true } })).toThrow(
      'key attribute pk is not a string, number or binary',
    );
    expect(() => decodeKey('not base64!')).toThrow('the key is not base64');
    expect(() => decodeKey(Buffer.of(1, 0, 5).toString('base64'))).toThrow('the key is truncated');
  });
});

describe('values written to SSM', () => {
  it('never carry {{ and read back as the same JSON', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.string({ unit: fc.constantFrom('{', '}', 'a', '"', '\u00e9') }),
        (value, s) => {
          for (const v of [value, s, { [s]: [s, { s }] }]) {
            const text = ssmJson(v);
            expect(text).not.toContain('{{');
            expect(text).toMatch(/^[\x20-\x7e]*$/);
            expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
          }
        },
      ),
    );
  });

  it('keep the scan record of a filter and start key full of braces readable', () => {
    const scan: ScanRecord = {
      scanId: 'scan-1',
      state: 'FAILED',
      tableName: 'Orders',
      keyAttributes: ['pk'],
      tableItemCount: 1,
      options: {
        ...DEFAULT_SCAN_OPTIONS,
        filterExpression: 'contains(#n, :v)',
        expressionNames: { '#n': '{{name}}' },
        expressionValues: { ':v': { S: '{{resolve:ssm:/x}}' } },
        startKey: worstKey,
      },
      totalSegments: 1,
      chains: 1,
      streamShards: 1,
      startedAt: 1,
      finishedAt: 2,
      error: `ValidationException: {{${'\u0001'.repeat(5000)}}}`,
      summary: null,
    };
    const text = encodeScan(scan);
    expect(ssmWouldRefuse(text)).toBe(false);
    const read = decodeScan(text);
    expect(read?.options).toEqual(scan.options);
    expect(read?.error?.startsWith('ValidationException: {{\u0001')).toBe(true);
  });

  it('clip a message to the room it has once written, never splitting a character', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.integer({ min: 3, max: 300 }),
        (s, max) => {
          const clipped = clipText(s, max);
          expect(ssmJson(clipped).length - 2).toBeLessThanOrEqual(max);
          if (clipped !== s) {
            expect(clipped.endsWith('...')).toBe(true);
            expect(s.startsWith(clipped.slice(0, -3))).toBe(true);
            expect(clipped).not.toMatch(/[\ud800-\udbff]\.\.\.$/);
          }
        },
      ),
    );
  });
});
