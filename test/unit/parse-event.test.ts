import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambda/core/errors';
import { readConfig } from '../../lambda/handlers/config';
import { parseEvent } from '../../lambda/handlers/parse-event';

const segment = { action: 'segment', scanId: 'scan-1', segment: 0, totalSegments: 1, generation: 1 };

describe('parseEvent', () => {
  it.each([
    [{}, { action: 'start' }],
    [null, { action: 'start' }],
    [{ action: 'start' }, { action: 'start' }],
    [{ action: 'status' }, { action: 'status' }],
    [segment, segment],
  ])('accepts %j', (event, expected) => {
    expect(parseEvent(event)).toEqual(expected);
  });

  it.each([
    [
      'a string',
      'not json',
      'Invalid event: expected a JSON object such as {"action":"start"}, received "not json".',
    ],
    ['an array', [], 'Invalid event: expected a JSON object'],
    [
      'an unknown action',
      { action: 'stats' },
      'Invalid action: expected "start" or "status", received "stats".',
    ],
    ['a non-string action', { action: 7 }, 'Invalid action: expected "start" or "status", received 7.'],
    [
      'an unknown field',
      { action: 'start', segmnets: 4 },
      'Invalid segmnets: expected no such field (this action accepts: action), received 4.',
    ],
    [
      'a fractional segment',
      { ...segment, segment: 0.5 },
      'Invalid segment: expected an integer from 0 to 0, received 0.5.',
    ],
    [
      'a segment out of range',
      { ...segment, segment: 1 },
      'Invalid segment: expected an integer from 0 to 0',
    ],
    [
      'too many segments',
      { ...segment, totalSegments: 1_000_001 },
      'Invalid totalSegments: expected an integer from 1 to 1000000',
    ],
    ['generation 0', { ...segment, generation: 0 }, 'Invalid generation: expected an integer from 1'],
    ['a bad scan id', { ...segment, scanId: '../x' }, 'Invalid scanId'],
  ])('rejects %s with a message naming the field', (_, event, message) => {
    expect(() => parseEvent(event)).toThrow(ValidationError);
    expect(() => parseEvent(event)).toThrow(message);
  });
});

describe('readConfig', () => {
  const env = {
    SCANNER_TABLE_NAME: 'Orders',
    SCANNER_STREAM_NAME: 's',
    SCANNER_PARAMETER_NAME: '/p',
    AWS_REGION: 'eu-west-1',
  };

  it('applies the defaults', () => {
    expect(readConfig(env)).toEqual({
      tableName: 'Orders',
      streamName: 's',
      parameterName: '/p',
      handoffMs: 15_000,
      checkpointIntervalMs: 10_000,
      pageSize: undefined,
      region: 'eu-west-1',
    });
  });

  it('names a missing variable', () => {
    expect(() => readConfig({ ...env, SCANNER_TABLE_NAME: undefined })).toThrow(
      'Invalid environment variable SCANNER_TABLE_NAME: expected a value, received nothing.',
    );
  });

  it('names a malformed number and its range', () => {
    expect(() => readConfig({ ...env, SCANNER_PAGE_SIZE: 'ten' })).toThrow(
      'Invalid environment variable SCANNER_PAGE_SIZE: expected an integer from 1 to 1000000, received "ten".',
    );
  });
});
