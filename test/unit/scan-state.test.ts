import { describe, expect, it } from 'vitest';
import { INITIAL_ROOT_PARAMETER_VALUE, RecordFormat } from '../../lambda/contract';
import { FatalScanError } from '../../lambda/core/errors';
import {
  DEFAULT_SCAN_OPTIONS,
  decodeScan,
  decodeSegment,
  encodeScan,
  encodeSegment,
  type ScanRecord,
  type SegmentCheckpoint,
} from '../../lambda/core/scan-state';

const checkpoint: SegmentCheckpoint = {
  scanId: 'scan-1',
  segment: 2,
  currentSegment: 2,
  totalSegments: 4,
  generation: 7,
  owner: 'abc',
  state: 'RUNNING',
  position: { id: { B: new Uint8Array([0, 1, 254, 255]) }, sk: { N: '-1.5' } },
  itemsScanned: 10,
  recordsPut: 10,
  bytesPut: 1234,
  handoffs: 6,
  handedOffBy: null,
  stalls: 1,
  relaunches: 0,
  updatedAt: 1_700_000_000_000,
  error: null,
};

const scan: ScanRecord = {
  scanId: 'scan-1',
  state: 'RUNNING',
  tableName: 'Orders',
  keyAttributes: ['pk'],
  tableItemCount: 1000,
  options: { ...DEFAULT_SCAN_OPTIONS, maxItemsPerSecond: 2000, maxReadUnitsPerSecond: 150 },
  totalSegments: 4,
  chains: 4,
  streamShards: 8,
  startedAt: 1_700_000_000_000,
  finishedAt: null,
  error: null,
  summary: null,
};

describe('checkpoint codec', () => {
  it('round-trips a checkpoint with a binary key exactly', () => {
    expect(decodeSegment(encodeSegment(checkpoint))).toEqual(checkpoint);
  });

  it('refuses a checkpoint over the 8,192-character SSM limit', () => {
    const large = { ...checkpoint, position: { id: { B: new Uint8Array(7000) } } };
    expect(() => encodeSegment(large)).toThrow(FatalScanError);
    expect(() => encodeSegment(large)).toThrow('over the SSM limit of 8192');
  });

  it('reads the initial root parameter as no scan', () => {
    expect(decodeScan(INITIAL_ROOT_PARAMETER_VALUE)).toBeNull();
    expect(decodeScan(encodeScan(null))).toBeNull();
  });

  it.each([
    ['not JSON', 'not JSON'],
    ['{"v":3,"scan":null}', 'unexpected version 3'],
    ['{"v":1,"scan":{"state":"DANCING"}}', 'unexpected state "DANCING"'],
  ])('reports a corrupt root parameter %s', (text, message) => {
    expect(() => decodeScan(text)).toThrow(message);
  });

  it('reports a corrupt checkpoint as a fatal error', () => {
    expect(() =>
      decodeSegment(JSON.stringify({ ...JSON.parse(encodeSegment(checkpoint)), generation: 'x' })),
    ).toThrow('The segment checkpoint is corrupt: unexpected generation.');
  });

  it("round-trips the scan's stream shards and rate limits", () => {
    expect(decodeScan(encodeScan(scan))).toEqual(scan);
  });

  it('reads a scan recorded by an earlier version, without shards or rate limits, with nulls', () => {
    // The root parameter as versions before the rate limits wrote it.
    const earlier = JSON.stringify({
      v: 1,
      scan: {
        scanId: 'scan-1',
        state: 'RUNNING',
        tableName: 'Orders',
        keyAttributes: ['pk'],
        tableItemCount: 1000,
        options: {
          filterExpression: null,
          projectionExpression: null,
          expressionNames: null,
          expressionValues: null,
          consistentRead: false,
          pageSize: 100,
          startKey: null,
          recordFormat: RecordFormat.dynamodbStream,
        },
        totalSegments: 4,
        startedAt: 1_700_000_000_000,
        finishedAt: null,
        error: null,
        summary: null,
      },
    });

    expect(decodeScan(earlier)).toEqual({
      ...scan,
      options: { ...DEFAULT_SCAN_OPTIONS, pageSize: 100 },
      streamShards: null,
    });
  });

  it.each([
    ['streamShards', { streamShards: 'many' }, {}],
    ['maxItemsPerSecond', {}, { maxItemsPerSecond: '100' }],
  ])('reports a scan record with an invalid %s as corrupt', (field, fields, options) => {
    const text = JSON.parse(encodeScan(scan)) as { scan: Record<string, unknown> & { options: object } };
    const corrupt = {
      ...text,
      scan: { ...text.scan, ...fields, options: { ...text.scan.options, ...options } },
    };
    expect(() => decodeScan(JSON.stringify(corrupt))).toThrow(
      new FatalScanError(`The scan record is corrupt: unexpected ${field}.`),
    );
  });
});
