import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import type { StartResponse, StatusResponse } from '../../lambda/contract';
import { INITIAL_ROOT_PARAMETER_VALUE } from '../../lambda/contract';
import type { AttributeMap } from '../../lambda/core/attribute-value';
import { checkDelivery } from '../../local/delivery-check';
import { invoke, runDemo, waitForScan } from '../../local/demo';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream, createTable } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { readWholeStream } from '../../local/stream-reader';

const waitForEnd = (stack: LocalStack, functionName: string): Promise<StatusResponse> =>
  waitForScan(stack, functionName, undefined, 60_000);

/**
 * Scans a table of the given key schema and items to the end, a checkpoint after every page
 * and a hand-off after about one, and checks what reached the stream.
 */
async function scanKeys(
  keySchema: readonly [name: string, type: 'S' | 'N' | 'B'][],
  items: readonly AttributeMap[],
  pageSize: number,
): Promise<{ status: StatusResponse; delivery: ReturnType<typeof checkDelivery> }> {
  const stack = await startLocalStack({ lambda: { asyncRetryDelaysMs: [100, 200] } });
  try {
    const { dynamodb, kinesis } = stack.clients;
    await createTable(dynamodb, {
      TableName: 'Keys',
      AttributeDefinitions: keySchema.map(([AttributeName, AttributeType]) => ({
        AttributeName,
        AttributeType,
      })),
      KeySchema: keySchema.map(([AttributeName], i) => ({
        AttributeName,
        KeyType: i === 0 ? 'HASH' : 'RANGE',
      })),
      BillingMode: 'PAY_PER_REQUEST',
    });
    await createStream(kinesis, 'edge-keys', 2);
    for (const item of items)
      await dynamodb.send(new PutItemCommand({ TableName: 'Keys', Item: item as never }));
    const scanner = await deployLocalScanner(stack, {
      tableName: 'Keys',
      streamName: 'edge-keys',
      timeoutMs: 1050,
      handoffMs: 1000,
      checkpointIntervalMs: 0,
      pageSize,
    });

    const start = (await invoke(stack.clients.lambda, scanner.functionName, {})) as StartResponse;
    const status = await waitForEnd(stack, scanner.functionName);
    const keys = keySchema.map(([name]) => name);
    return {
      status,
      delivery: checkDelivery(items, keys, await readWholeStream(kinesis, 'edge-keys'), start.scanId),
    };
  } finally {
    await stack.stop();
  }
}

describe('the scanner on the local stack', () => {
  it('delivers every item of a varied table, unchanged, through a chain of at least five hand-offs', async () => {
    // A window of 0 ms: every invocation writes one page of 100 and hands off (20 pages and the
    // empty one DynamoDB returns after a full last page).
    const result = await runDemo({
      items: 2000,
      segments: 1,
      timeoutMs: 1000,
      handoffMs: 1000,
      pageSize: 100,
    });

    expect(result.problems).toEqual([]);
    expect(result.status.state).toBe('COMPLETED');
    expect(result.status.handoffs).toBeGreaterThanOrEqual(19);
    expect(result.delivery).toMatchObject({
      itemsInTable: 2000,
      distinctItems: 2000,
      missing: 0,
      altered: 0,
      unexpected: 0,
    });
    expect(result.status.itemsScanned).toBe(2000);
  });

  it('converges to one chain when every async event is delivered twice', async () => {
    const pageSize = 50;
    const result = await runDemo({ items: 1500, pageSize, lambda: { duplicateDelivery: true } });

    expect(result.problems).toEqual([]);
    expect(result.delivery.missing).toBe(0);
    // A duplicate invocation stops at its first checkpoint, after one page: one per invocation of
    // each chain (its first and one per hand-off).
    expect(result.delivery.duplicates).toBeLessThanOrEqual(
      pageSize * (result.status.handoffs + result.status.segments.total),
    );
  });

  it('checkpoints and resumes binary keys exactly', async () => {
    const items: AttributeMap[] = Array.from({ length: 300 }, (_, i) => ({
      id: { B: new Uint8Array([0, 255, i % 256, Math.floor(i / 256), 10, 13]) },
      n: { N: String(i) },
    }));

    const { status, delivery } = await scanKeys([['id', 'B']], items, 7);

    expect(status).toMatchObject({ state: 'COMPLETED', itemsScanned: 300 });
    expect(status.handoffs).toBeGreaterThanOrEqual(1);
    expect(delivery).toMatchObject({ distinctItems: 300, missing: 0, altered: 0 });
  });

  it('checkpoints keys SSM would refuse as JSON: parameter references and escape-heavy maximum lengths', async () => {
    // A page of one item: every key below is a checkpoint. JSON escapes each control
    // character into six, so these keys would take over 9,000 characters as JSON.
    const items: AttributeMap[] = Array.from({ length: 24 }, (_, i) => ({
      pk: { S: i % 2 === 0 ? `{{resolve:ssm:/x/${i}}}` : `\u0001${String.fromCharCode(i)}`.repeat(1000) },
      sk: { S: `}}${'\u001f"{{'.repeat(255)}${i}` },
      i: { N: String(i) },
    }));

    const { status, delivery } = await scanKeys(
      [
        ['pk', 'S'],
        ['sk', 'S'],
      ],
      items,
      1,
    );

    expect(status).toMatchObject({ state: 'COMPLETED', itemsScanned: 24, error: null });
    expect(delivery).toMatchObject({ distinctItems: 24, missing: 0, altered: 0 });
  });

  it('goes on unchanged when a stack update puts the root parameter back mid-scan', async () => {
    const stack = await startLocalStack();
    try {
      const { dynamodb, kinesis, ssm } = stack.clients;
      await createDemoTable(dynamodb, 'Updated');
      const items = generateItems(600, { bigEvery: 0 });
      await writeItems(dynamodb, 'Updated', items);
      await createStream(kinesis, 'updated', 2);
      const scanner = await deployLocalScanner(stack, {
        tableName: 'Updated',
        streamName: 'updated',
        timeoutMs: 1050,
        handoffMs: 1000,
        pageSize: 25,
      });

      const start = (await invoke(stack.clients.lambda, scanner.functionName, {})) as StartResponse;
      // Once the chain has handed off, CloudFormation updates the parameter (a new tag, say):
      // it writes the template's value again.
      for (;;) {
        const status = (await invoke(stack.clients.lambda, scanner.functionName, {
          action: 'status',
        })) as StatusResponse;
        expect(status.state).toBe('RUNNING');
        if (status.handoffs >= 1) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await ssm.send(
        new PutParameterCommand({
          Name: scanner.parameterName,
          Value: INITIAL_ROOT_PARAMETER_VALUE,
          Type: 'String',
          Overwrite: true,
        }),
      );
      const status = await waitForEnd(stack, scanner.functionName);
      const delivery = checkDelivery(
        items,
        ['pk', 'sk'],
        await readWholeStream(kinesis, 'updated'),
        start.scanId,
      );

      expect(status).toMatchObject({ scanId: start.scanId, state: 'COMPLETED', itemsScanned: 600 });
      expect(delivery).toMatchObject({ distinctItems: 600, missing: 0, altered: 0 });
    } finally {
      await stack.stop();
    }
  });

  it('answers start idempotently, rejects bad input by name and writes nothing for it', async () => {
    const stack = await startLocalStack();
    try {
      await createTable(stack.clients.dynamodb, {
        TableName: 'Small',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      });
      await createStream(stack.clients.kinesis, 'small', 1);
      // The rejections below are expected: asserted, not logged.
      const scanner = await deployLocalScanner(stack, {
        tableName: 'Small',
        streamName: 'small',
        logLevel: 'SILENT',
      });
      const before = stack.ssm.value(`${scanner.parameterName}/scan`);

      await expect(invoke(stack.clients.lambda, scanner.functionName, { action: 'begin' })).rejects.toThrow(
        'ValidationError: Invalid action: expected "start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog", received "begin".',
      );
      await expect(
        invoke(stack.clients.lambda, scanner.functionName, { action: 'start', segments: 'many' }),
      ).rejects.toThrow('Invalid segments');
      expect(stack.ssm.value(`${scanner.parameterName}/scan`)).toBe(before);
      expect(stack.ssm.calls.PutParameter ?? 0).toBe(1); // the deploy's own write

      // Hold the chain back so the scan is still running for the second start.
      const first = (await invoke(stack.clients.lambda, scanner.functionName, {
        action: 'start',
      })) as StartResponse;
      const second = (await invoke(stack.clients.lambda, scanner.functionName, {
        action: 'start',
      })) as StartResponse;
      const status = await waitForEnd(stack, scanner.functionName);

      expect(second.scanId).toBe(first.scanId);
      expect(second.alreadyRunning || status.scanId === first.scanId).toBe(true);
      expect(status).toMatchObject({ scanId: first.scanId, state: 'COMPLETED' });

      const third = (await invoke(stack.clients.lambda, scanner.functionName, {})) as StartResponse;
      expect(third).toMatchObject({ alreadyRunning: false });
      expect(third.scanId).not.toBe(first.scanId);
      await waitForEnd(stack, scanner.functionName);
    } finally {
      await stack.stop();
    }
  });

  it('fails the scan loudly when the table does not exist', async () => {
    const stack = await startLocalStack();
    try {
      await createStream(stack.clients.kinesis, 'orphan', 1);
      const scanner = await deployLocalScanner(stack, {
        tableName: 'Missing',
        streamName: 'orphan',
        logLevel: 'SILENT',
      });
      await expect(invoke(stack.clients.lambda, scanner.functionName, {})).rejects.toThrow(
        /DescribeTable on Missing failed: ResourceNotFoundException/,
      );
      const status = (await invoke(stack.clients.lambda, scanner.functionName, {
        action: 'status',
      })) as StatusResponse;
      expect(status.state).toBe('IDLE');
    } finally {
      await stack.stop();
    }
  });
});
