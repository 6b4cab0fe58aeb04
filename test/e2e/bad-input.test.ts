import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SsmCheckpointStore } from '../../lambda/adapters/ssm-checkpoint-store';
import type { StartResponse } from '../../lambda/contract';
import { firstCheckpoint } from '../../lambda/core/scan-state';
import { invoke, waitForScan } from '../../local/demo';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';

const SEGMENTS = 'expected an integer from 1 to 1000000, or "auto"';

/** 120 values of 60 characters: each passes DynamoDB's probe, together they outgrow a parameter. */
const MANY_VALUES = Object.fromEntries(
  Array.from({ length: 120 }, (_, i) => [`:v${i}`, { S: 'x'.repeat(60) }]),
);
const MANY_VALUES_FILTER = Object.keys(MANY_VALUES)
  .map((name) => `pk = ${name}`)
  .join(' OR ');

/** Every bad request gets an error naming the field and the expected value, and writes nothing. */
describe('bad input on the local stack', () => {
  let stack: LocalStack;
  let scanId = '';
  const call = (payload: unknown) => invoke(stack.clients.lambda, 'ddbscan-local', payload);

  beforeAll(async () => {
    stack = await startLocalStack();
    await createDemoTable(stack.clients.dynamodb, 'Orders');
    await writeItems(stack.clients.dynamodb, 'Orders', generateItems(50, { bigEvery: 0 }));
    await createStream(stack.clients.kinesis, 'bad-input', 1);
    await deployLocalScanner(stack, { tableName: 'Orders', streamName: 'bad-input', logLevel: 'SILENT' });
    scanId = ((await call({ action: 'start' })) as StartResponse).scanId;
    await waitForScan(stack, 'ddbscan-local');
    // Leave it FAILED with a chain's checkpoint, as a scan a user would resume: no refusal below
    // may touch either (a refused restart used to delete the checkpoints first).
    const store = new SsmCheckpointStore(stack.clients.ssm, '/ddbscan/local');
    const scan = await store.loadScan();
    if (scan === null) throw new Error('no scan');
    await store.saveScan({ ...scan, state: 'FAILED', error: 'the stream was deleted' });
    await store.saveSegment({
      ...firstCheckpoint(scan, 0, 3, Date.now()),
      state: 'FAILED',
      position: { pk: { S: 'order-0042' } },
      itemsScanned: 42,
    });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it.each([
    [
      'an unknown action',
      { action: 'scan' },
      'Invalid action: expected "start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog", received "scan".',
    ],
    [
      'an action that is not a string',
      { action: ['start'] },
      'Invalid action: expected "start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog", received ["start"].',
    ],
    [
      'a payload that is not an object',
      'start',
      'Invalid event: expected a JSON object such as {"action":"start"}, received "start".',
    ],
    ['segments 0', { segments: 0 }, `Invalid segments: ${SEGMENTS}, received 0.`],
    ['segments -1', { segments: -1 }, `Invalid segments: ${SEGMENTS}, received -1.`],
    ['segments 1.5', { segments: 1.5 }, `Invalid segments: ${SEGMENTS}, received 1.5.`],
    ['segments 10^7', { segments: 10_000_000 }, `Invalid segments: ${SEGMENTS}, received 10000000.`],
    ['segments "many"', { segments: 'many' }, `Invalid segments: ${SEGMENTS}, received "many".`],
    ['an unknown field', { action: 'start', segmnets: 2 }, 'Invalid segmnets: expected no such field'],
    [
      'an invalid filter expression',
      { restart: true, filter: 'active = = :a', values: { ':a': { BOOL: true } } },
      'Invalid filter: expected an input DynamoDB accepts (DynamoDB said:',
    ],
    [
      'a null action (only a missing one means start)',
      { action: null },
      'Invalid action: expected "start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog", received null.',
    ],
    [
      'a projection DynamoDB refuses, shown as sent (without the key attributes start adds)',
      { restart: true, projection: 'pk,,sk' },
      'Invalid projection: expected an input DynamoDB accepts (DynamoDB said: Invalid ProjectionExpression: Syntax error; Expected "#", "_", or [a-zA-Z] but "," found.), received "pk,,sk".',
    ],
    [
      'values without a filter, shown as sent',
      { restart: true, values: { ':s': { S: 'x' } } },
      'Invalid values: expected an input DynamoDB accepts (DynamoDB said: ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null), received {":s":{"S":"x"}}.',
    ],
    [
      'a restart whose options outgrow the scan record',
      { restart: true, filter: MANY_VALUES_FILTER, values: MANY_VALUES },
      "Invalid values: expected the scan's options to take at most 6,",
    ],
    [
      'a restart with a start key and two segments',
      { restart: true, segments: 2, startKey: { pk: { S: 'a' } } },
      'Invalid startKey: expected no start key when segments is more than 1',
    ],
    [
      'a restart with a start key of another key schema',
      { restart: true, startKey: { nope: { S: 'a' } } },
      'Invalid startKey: expected an input DynamoDB accepts',
    ],
    [
      'a restart whose rate is below one per chain',
      { restart: true, segments: 4, maxItemsPerSecond: 2 },
      'Invalid maxItemsPerSecond: expected at least 1 per chain (4 chains at once), received 2.',
    ],
    ['a stop of a failed scan', { action: 'stop' }, 'ConflictError: No scan to stop: scan <id> is FAILED.'],
    [
      'a filter over 4 KB',
      { filter: `a = :a${' '.repeat(4100)}` },
      'Invalid filter: expected a DynamoDB expression of 1 to 4096 characters',
    ],
    [
      'an unknown scan id for status',
      { action: 'status', scanId: 'nope' },
      `Invalid scanId: expected the current scan's id "${'<id>'}", received "nope".`,
    ],
    [
      'an unknown scan id for stop',
      { action: 'stop', scanId: 'nope' },
      "Invalid scanId: expected the current scan's id",
    ],
    [
      'an unknown scan id for resume',
      { action: 'resume', scanId: 'nope' },
      "Invalid scanId: expected the current scan's id",
    ],
    [
      'a malformed scan id',
      { action: 'status', scanId: '../etc' },
      'Invalid scanId: expected a scan id of 1 to 64 letters, digits, "-" or "_", received "../etc".',
    ],
  ])('rejects %s, naming the field, and writes nothing', async (_, payload, message) => {
    const parameters = () =>
      Object.fromEntries(stack.ssm.names().map((name) => [name, stack.ssm.value(name)]));
    const before = parameters();
    const calls = { ...stack.ssm.calls };
    const events = stack.eventbridge.events.length;
    const invocations = stack.lambda.stats.invocations;

    const error = await call(payload).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    const expected = message.replace('<id>', scanId);
    expect((error as Error).message).toContain(
      /^[A-Z][a-z]+Error: /.test(expected) ? expected : `ValidationError: ${expected}`,
    );
    expect(parameters()).toEqual(before);
    expect(stack.ssm.calls.PutParameter).toBe(calls.PutParameter);
    expect(stack.ssm.calls.DeleteParameters).toBe(calls.DeleteParameters);
    expect(stack.eventbridge.events.length).toBe(events);
    // The refused call itself, and no chain launched.
    expect(stack.lambda.stats.invocations).toBe(invocations + 1);
  });

  it('rejects malformed JSON before the function runs', async () => {
    const output = await stack.clients.lambda
      .send(new InvokeCommand({ FunctionName: 'ddbscan-local', Payload: Buffer.from('{"action": "start"') }))
      .catch((e: unknown) => e);
    expect(output).toMatchObject({
      name: 'InvalidRequestContentException',
      message: 'Could not parse request body into json',
    });
  });

  it('rejects a payload over the 6 MB synchronous limit before the function runs', async () => {
    const huge = { action: 'start', filter: 'x'.repeat(6_300_000) };
    const output = await call(huge).catch((e: unknown) => e);
    expect(output).toMatchObject({ name: 'RequestTooLargeException' });
  });
});
