import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { type LocalStack, startLocalStack } from '../../local/local-stack';

const run = promisify(execFile);
const ddbscan = join(__dirname, '..', '..', 'bin', 'ddbscan.js');

describe('ddbscan plan', () => {
  let stack: LocalStack;
  const cli = async (env: Record<string, string>, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [ddbscan, 'plan', ...args], {
        env: { ...process.env, ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  beforeAll(async () => {
    stack = await startLocalStack();
    await createDemoTable(stack.clients.dynamodb, 'Orders');
    await writeItems(stack.clients.dynamodb, 'Orders', generateItems(50, { bigEvery: 0 }));
    await createStream(stack.clients.kinesis, 'plan', 3);
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('describes the local table and stream', async () => {
    const result = await cli(stack.env, '--table', 'Orders', '--stream', 'plan', '--json');

    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout);
    // dynalite never updates ItemCount and TableSizeBytes: the plan says so instead of failing.
    expect(plan).toMatchObject({
      tableName: 'Orders',
      streamName: 'plan',
      table: { items: 0, bytes: 0, billing: 'PAY_PER_REQUEST' },
      stream: { mode: 'PROVISIONED', openShards: 3 },
      segments: { used: 1, recommended: 1 },
      durationSeconds: 0,
    });
    expect(plan.warnings[0]).toMatch(/^The table reports 0 items/);
  });

  it('takes the item count and size as flags over the described table', async () => {
    const result = await cli(
      stack.env,
      '--table',
      'Orders',
      '--stream',
      'plan',
      '--items',
      '20000000',
      '--table-bytes',
      '10GB',
    );

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('  table     Orders: 10 GB, 20,000,000 items, 500 B per item, on-demand');
    expect(result.stdout).toContain(
      "  segments  3 (recommended 3: capped at 3, one per MB/s of the stream's write capacity;",
    );
    expect(result.stdout).toMatch(/\n {2}total +\$\d+\.\d{4}\n/);
    expect(result.stdout).toContain('\nassumptions:\n');
  });

  it('plans from flags alone, without AWS', async () => {
    // No endpoints and no credentials: nothing is described.
    const result = await cli(
      {
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
        AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:9',
      },
      '--table-bytes',
      '10GB',
      '--items',
      '20000000',
      '--shards',
      '6',
      '--json',
    );

    expect(result.code).toBe(0);
    // The hand-computed example of test/unit/plan.test.ts.
    expect(JSON.parse(result.stdout)).toMatchObject({
      tableName: null,
      segments: { used: 6, recommended: 6 },
      lambda: { invocations: 37 },
      dynamodb: { readUnits: 1_220_706 },
      kinesis: { putPayloadUnits: 20_000_000 },
      ssm: { checkpointWrites: 2100 },
    });
  });

  it('names a bad flag with exit code 2 and a missing table with exit code 3', async () => {
    const bad = await cli(stack.env, '--table', 'Orders', '--stream', 'plan', '--segments', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'ddbscan: Invalid --segments: expected a whole number from 1 to 1000000, or "auto", received "0".',
    );

    const missing = await cli(stack.env, '--table', 'Nope', '--stream', 'plan');
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim()).toBe('ddbscan: table Nope was not found (check the name and the region)');
  });
});
