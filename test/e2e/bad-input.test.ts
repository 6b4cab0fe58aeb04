import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartResponse } from '../../lambda/contract';
import { invoke, waitForScan } from '../../local/demo';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';

const SEGMENTS = 'expected an integer from 1 to 1000000, or "auto"';

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
  });
  afterAll(async () => {
    await stack.stop();
  });

  it.each([
    [
      'an unknown action',
      { action: 'scan' },
      'Invalid action: expected "start", "status", "stop", "resume" or "watchdog", received "scan".',
    ],
    [
      'an action that is not a string',
      { action: ['start'] },
      'Invalid action: expected "start", "status", "stop", "resume" or "watchdog", received ["start"].',
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
      { filter: 'active = = :a', values: { ':a': { BOOL: true } } },
      'Invalid filter: expected an input DynamoDB accepts (DynamoDB said:',
    ],
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
    const writes = stack.ssm.calls.PutParameter ?? 0;
    const root = stack.ssm.value('/ddbscan/local');

    const error = await call(payload).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`ValidationError: ${message.replace('<id>', scanId)}`);
    expect(stack.ssm.calls.PutParameter ?? 0).toBe(writes);
    expect(stack.ssm.value('/ddbscan/local')).toBe(root);
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
