import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambda/core/errors';
import { readConfig } from '../../lambda/handlers/config';
import { parseEvent } from '../../lambda/handlers/parse-event';
import { startOptions } from '../fakes';

const segment = { action: 'segment', scanId: 'scan-1', segment: 0, totalSegments: 1, generation: 1 };
const SEGMENTS = 'expected an integer from 1 to 1000000, or "auto"';

describe('parseEvent', () => {
  it.each([
    [{}, { action: 'start', options: startOptions() }],
    [null, { action: 'start', options: startOptions() }],
    [{ action: 'start' }, { action: 'start', options: startOptions() }],
    [{ action: 'status' }, { action: 'status', scanId: null }],
    [{ action: 'stop' }, { action: 'stop', scanId: null }],
    [{ action: 'resume' }, { action: 'resume', scanId: null }],
    [
      { action: 'status', scanId: 'scan-1' },
      { action: 'status', scanId: 'scan-1' },
    ],
    [{ action: 'watchdog' }, { action: 'watchdog' }],
    // 200 segments on the function's default concurrency: the start checks the limit against its chains.
    [
      { segments: 200, maxItemsPerSecond: 150 },
      { action: 'start', options: startOptions({ segments: 200, maxItemsPerSecond: 150 }) },
    ],
    [{ action: 'history' }, { action: 'history' }],
    [segment, segment],
    [
      { ...segment, from: 'owner-1', relaunch: true },
      { ...segment, from: 'owner-1', relaunch: true },
    ],
  ])('accepts %j', (event, expected) => {
    expect(parseEvent(event)).toEqual(expected);
  });

  it('accepts every start option', () => {
    const event = {
      action: 'start',
      segments: 'auto',
      restart: true,
      filter: '#s = :s',
      names: { '#s': 'status' },
      values: { ':s': { S: 'open' }, ':b': { B: 'AQI=' } },
      projection: '#s, total',
      consistentRead: true,
      pageSize: 250,
      startKey: { pk: { S: 'a' } },
      recordFormat: 'item',
      maxItemsPerSecond: 2000,
      maxReadUnitsPerSecond: 150,
    };
    expect(parseEvent(event)).toEqual({
      action: 'start',
      options: startOptions({
        segments: 'auto',
        restart: true,
        filterExpression: '#s = :s',
        expressionNames: { '#s': 'status' },
        expressionValues: { ':s': { S: 'open' }, ':b': { B: new Uint8Array([1, 2]) } },
        projectionExpression: '#s, total',
        consistentRead: true,
        pageSize: 250,
        startKey: { pk: { S: 'a' } },
        recordFormat: 'item',
        maxItemsPerSecond: 2000,
        maxReadUnitsPerSecond: 150,
      }),
    });
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
      'Invalid action: expected "start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog", received "stats".',
    ],
    [
      'a null action (only a missing one means start)',
      { action: null },
      'Invalid action: expected "start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog", received null.',
    ],
    [
      'a non-string action',
      { action: 7 },
      'Invalid action: expected "start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog", received 7.',
    ],
    [
      'an unknown field',
      { action: 'start', segmnets: 4 },
      'Invalid segmnets: expected no such field (accepted: action, segments,',
    ],
    [
      'a field on status',
      { action: 'status', segments: 2 },
      'Invalid segments: expected no such field (accepted: action, scanId), received 2.',
    ],
    ['segments 0', { segments: 0 }, `Invalid segments: ${SEGMENTS}, received 0.`],
    ['segments -1', { segments: -1 }, `Invalid segments: ${SEGMENTS}, received -1.`],
    ['segments 1.5', { segments: 1.5 }, `Invalid segments: ${SEGMENTS}, received 1.5.`],
    ['segments 10^7', { segments: 10_000_000 }, `Invalid segments: ${SEGMENTS}, received 10000000.`],
    ['segments "many"', { segments: 'many' }, `Invalid segments: ${SEGMENTS}, received "many".`],
    ['a non-boolean restart', { restart: 'yes' }, 'Invalid restart: expected true or false, received "yes".'],
    [
      'a filter that is not a string',
      { filter: { expression: 'a = b' } },
      'Invalid filter: expected a DynamoDB expression',
    ],
    [
      'an empty filter',
      { filter: ' ' },
      'Invalid filter: expected a DynamoDB expression of 1 to 4096 characters, received " ".',
    ],
    [
      'a name without #',
      { filter: 'a', names: { s: 'status' } },
      'Invalid names.s: expected a "#placeholder"',
    ],
    ['empty names', { names: {} }, 'Invalid names: expected a non-empty object'],
    [
      'a value without :',
      { filter: 'a', values: { s: { S: 'x' } } },
      'Invalid values: expected typed attribute values',
    ],
    ['an untyped value', { filter: 'a', values: { ':s': 'x' } }, 'Invalid values'],
    ['an empty projection', { projection: '' }, 'Invalid projection: expected a DynamoDB expression'],
    [
      'a bad page size',
      { pageSize: 0 },
      'Invalid pageSize: expected an integer from 1 to 1000000, received 0.',
    ],
    ['an untyped start key', { startKey: { pk: 'a' } }, 'Invalid startKey'],
    [
      'a start key with several segments',
      { segments: 2, startKey: { pk: { S: 'a' } } },
      'Invalid startKey: expected no start key when segments is more than 1',
    ],
    [
      'an item rate below one per chain',
      { segments: 8, concurrency: 8, maxItemsPerSecond: 4 },
      'Invalid maxItemsPerSecond: expected at least 1 per chain (8 chains at once), received 4.',
    ],
    [
      'a read rate below one per chain',
      { segments: 8, concurrency: 6, maxReadUnitsPerSecond: 5 },
      'Invalid maxReadUnitsPerSecond: expected at least 1 per chain (6 chains at once), received 5.',
    ],
    [
      'a "__proto__" name',
      JSON.parse('{"filter":"#a = :a","names":{"#a":"x","__proto__":"y"}}'),
      'Invalid names.__proto__: expected a "#placeholder" mapped to an attribute name, received "y".',
    ],
    [
      'a zero item rate',
      { maxItemsPerSecond: 0 },
      'Invalid maxItemsPerSecond: expected an integer from 1 to 10000000, received 0.',
    ],
    [
      'a fractional read rate',
      { maxReadUnitsPerSecond: 2.5 },
      'Invalid maxReadUnitsPerSecond: expected an integer from 1 to 10000000, received 2.5.',
    ],
    [
      'a read rate as text',
      { maxReadUnitsPerSecond: '100' },
      'Invalid maxReadUnitsPerSecond: expected an integer from 1 to 10000000, received "100".',
    ],
    [
      'an unknown record format',
      { recordFormat: 'csv' },
      'Invalid recordFormat: expected "dynamodb-stream" or "item", received "csv".',
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
    [
      'relaunch false',
      { ...segment, relaunch: false },
      'Invalid relaunch: expected true, or no such field, received false.',
    ],
    ['a bad scan id', { ...segment, scanId: '../x' }, 'Invalid scanId'],
  ])('rejects %s with a message naming the field', (_, event, message) => {
    expect(() => parseEvent(event)).toThrow(ValidationError);
    expect(() => parseEvent(event)).toThrow(message);
  });
});

describe('parseEvent: failures and replay', () => {
  it('reads the consumer, the scan and the limit', () => {
    expect(parseEvent({ action: 'failures', consumer: 'indexer' })).toEqual({
      action: 'failures',
      consumer: 'indexer',
      scanId: null,
      limit: null,
    });
    expect(parseEvent({ action: 'replay', consumer: 'indexer', scanId: 's', limit: 10 })).toEqual({
      action: 'replay',
      consumer: 'indexer',
      scanId: 's',
      limit: 10,
    });
  });

  it('names the field of a bad request', () => {
    expect(() => parseEvent({ action: 'failures' })).toThrow(
      "Invalid consumer: expected a tracked consumer's name, received nothing.",
    );
    expect(() => parseEvent({ action: 'replay', consumer: 'indexer', limit: 0 })).toThrow(
      'Invalid limit: expected an integer from 1 to 1000, received 0.',
    );
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
      checkpointWritesPerSecond: undefined,
      pageSize: undefined,
      concurrency: 100,
      eventBusName: 'default',
      stalledAfterMs: 960_000,
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
