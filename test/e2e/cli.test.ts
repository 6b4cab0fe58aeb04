import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusResponse } from '../../lambda/contract';
import { checkDelivery } from '../../local/delivery-check';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { readWholeStream } from '../../local/stream-reader';

const run = promisify(execFile);
const ddbscan = join(__dirname, '..', '..', 'bin', 'ddbscan.js');

describe('the ddbscan CLI against the local stack', () => {
  let stack: LocalStack;
  const items = generateItems(1200, { bigEvery: 0 });
  const cli = async (...args: string[]) => {
    const env = { ...process.env, ...stack.env, DDBSCAN_FUNCTION: 'ddbscan-local' };
    try {
      const { stdout, stderr } = await run(process.execPath, [ddbscan, ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  beforeAll(async () => {
    stack = await startLocalStack({ lambda: { asyncRetryDelaysMs: [100, 200] } });
    await createDemoTable(stack.clients.dynamodb, 'Orders');
    await writeItems(stack.clients.dynamodb, 'Orders', items);
    await createStream(stack.clients.kinesis, 'cli', 2);
    await deployLocalScanner(stack, {
      tableName: 'Orders',
      streamName: 'cli',
      timeoutMs: 1050,
      handoffMs: 1000,
      checkpointIntervalMs: 100,
      pageSize: 50,
      logLevel: 'SILENT',
    });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('drives a scan of 8 segments from start to COMPLETED', async () => {
    const result = await cli('start', '--segments', '8', '--watch', '--json', '--interval', '0.1');
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as StatusResponse);
    const last = lines.at(-1);

    expect(result.code).toBe(0);
    expect(last).toMatchObject({ state: 'COMPLETED', itemsScanned: 1200, segments: { total: 8, done: 8 } });
    const delivery = checkDelivery(
      items,
      ['pk', 'sk'],
      await readWholeStream(stack.clients.kinesis, 'cli'),
      last?.scanId ?? '',
    );
    expect(delivery).toMatchObject({ distinctItems: 1200, missing: 0, altered: 0 });
  });

  it('reports rejected input in one line with exit code 2', async () => {
    const result = await cli('start', '--segments', 'many');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'ddbscan: Invalid segments: expected an integer from 1 to 1000000, or "auto", received null.',
    );
  });

  it('reports a missing function with exit code 3', async () => {
    const result = await cli('status', '--function', 'nope');
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toBe('ddbscan: function nope was not found (check the name and the region)');
  });
});
