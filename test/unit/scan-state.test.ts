import { describe, expect, it } from 'vitest';
import { INITIAL_ROOT_PARAMETER_VALUE } from '../../lambda/contract';
import { FatalScanError } from '../../lambda/core/errors';
import {
  decodeScan,
  decodeSegment,
  encodeScan,
  encodeSegment,
  type SegmentCheckpoint,
} from '../../lambda/core/scan-state';

const checkpoint: SegmentCheckpoint = {
  scanId: 'scan-1',
  segment: 2,
  totalSegments: 4,
  generation: 7,
  owner: 'abc',
  state: 'RUNNING',
  position: { id: { B: new Uint8Array([0, 1, 254, 255]) }, sk: { N: '-1.5' } },
  itemsScanned: 10,
  recordsPut: 10,
  bytesPut: 1234,
  handoffs: 6,
  stalls: 1,
  updatedAt: 1_700_000_000_000,
  error: null,
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
    expect(encodeScan(null)).toBe(INITIAL_ROOT_PARAMETER_VALUE);
  });

  it.each([
    ['not JSON', 'not JSON'],
    ['{"v":2,"scan":null}', 'unexpected version 2'],
    ['{"v":1,"scan":{"state":"DANCING"}}', 'unexpected state "DANCING"'],
  ])('reports a corrupt root parameter %s', (text, message) => {
    expect(() => decodeScan(text)).toThrow(message);
  });

  it('reports a corrupt checkpoint as a fatal error', () => {
    expect(() =>
      decodeSegment(JSON.stringify({ ...JSON.parse(encodeSegment(checkpoint)), generation: 'x' })),
    ).toThrow('The segment checkpoint is corrupt: unexpected generation.');
  });
});
