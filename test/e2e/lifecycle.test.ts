import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CompletionEvent, type StartResponse, type StatusResponse } from '../../lambda/contract';
import type { AttributeMap } from '../../lambda/core/attribute-value';
import { checkDelivery } from '../../local/delivery-check';
import { invoke, runDemo, waitForScan } from '../../local/demo';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { readWholeStream } from '../../local/stream-reader';

describe('the scan lifecycle on the local stack', () => {
  let stack: LocalStack;
  let items: AttributeMap[];
  const functionName = 'ddbscan-local';
  const call = (payload: unknown) => invoke(stack.clients.lambda, functionName, payload);
  const delivered = async (scanId: string) =>
    checkDelivery(items, ['pk', 'sk'], await readWholeStream(stack.clients.kinesis, 'lifecycle'), scanId);
  const completions = (scanId: string) =>
    stack.eventbridge.events.filter(
      (e) =>
        e.detailType === CompletionEvent.detailType && (e.detail as { scanId?: string }).scanId === scanId,
    );

  beforeEach(async () => {
    stack = await startLocalStack({ lambda: { asyncRetryDelaysMs: [100, 200] } });
    items = generateItems(2000, { bigEvery: 0 });
    await createDemoTable(stack.clients.dynamodb, 'Orders');
    await writeItems(stack.clients.dynamodb, 'Orders', items);
    await createStream(stack.clients.kinesis, 'lifecycle', 4);
    await deployLocalScanner(stack, {
      tableName: 'Orders',
      streamName: 'lifecycle',
      timeoutMs: 1050,
      handoffMs: 1000,
      checkpointIntervalMs: 100,
      pageSize: 25,
      logLevel: 'SILENT',
    });
  });
  afterEach(async () => {
    await stack.stop();
  });

  it('delivers every item over 8 segments and publishes one completion event with a correct summary', async () => {
    const start = (await call({ action: 'start', segments: 8 })) as StartResponse;
    const status = await waitForScan(stack, functionName);

    expect(status).toMatchObject({ state: 'COMPLETED', itemsScanned: 2000, recordsPut: 2000 });
    expect(status.segments).toMatchObject({ total: 8, done: 8 });
    expect(await delivered(start.scanId)).toMatchObject({ distinctItems: 2000, missing: 0, altered: 0 });
    const events = completions(start.scanId);
    expect(events).toHaveLength(1);
    expect(events[0]?.detail).toMatchObject({
      scanId: start.scanId,
      tableName: 'Orders',
      segments: 8,
      itemsScanned: 2000,
      recordsPut: 2000,
      handoffs: status.handoffs,
    });
    expect(stack.ssm.names().filter((n) => n.startsWith('/ddbscan/local/segment/'))).toEqual([]);
  });

  it('stops midway with a checkpoint and, resumed, delivers every item', async () => {
    const start = (await call({ action: 'start', segments: 4 })) as StartResponse;
    let status = (await call({ action: 'status' })) as StatusResponse;
    while (status.itemsScanned < 200) status = (await call({ action: 'status' })) as StatusResponse;
    expect(await call({ action: 'stop' })).toMatchObject({ scanId: start.scanId, state: 'STOPPING' });

    const stopped = await waitForScan(stack, functionName);
    expect(stopped.state).toBe('STOPPED');
    expect(stopped.segments.stopped + stopped.segments.done).toBe(4);
    expect(stopped.itemsScanned).toBeLessThan(2000);
    expect(completions(start.scanId)).toHaveLength(0);
    await expect(call({ action: 'start' })).rejects.toThrow(`Scan ${start.scanId} is STOPPED: resume it`);

    expect(await call({ action: 'resume' })).toMatchObject({ scanId: start.scanId, state: 'RUNNING' });
    const completed = await waitForScan(stack, functionName);

    expect(completed).toMatchObject({ state: 'COMPLETED', itemsScanned: 2000 });
    expect(await delivered(start.scanId)).toMatchObject({ distinctItems: 2000, missing: 0 });
    expect(completions(start.scanId)).toHaveLength(1);
  });

  it('restarts with a new scan id and delivers every item under it', async () => {
    const first = (await call({ action: 'start', segments: 2 })) as StartResponse;
    const second = (await call({ action: 'start', segments: 3, restart: true })) as StartResponse;
    const status = await waitForScan(stack, functionName);

    expect(second.scanId).not.toBe(first.scanId);
    expect(status).toMatchObject({ scanId: second.scanId, state: 'COMPLETED', segments: { total: 3 } });
    expect(await delivered(second.scanId)).toMatchObject({ distinctItems: 2000, missing: 0 });
    expect(completions(first.scanId)).toHaveLength(0);
    expect(completions(second.scanId)).toHaveLength(1);
  });

  it('applies a filter and a projection kept with the scan, in the item format', async () => {
    const start = (await call({
      action: 'start',
      segments: 2,
      filter: '#a = :yes',
      names: { '#a': 'active' },
      values: { ':yes': { BOOL: true } },
      projection: '#a, amount',
      recordFormat: 'item',
    })) as StartResponse;
    const status = await waitForScan(stack, functionName);
    const records = (await readWholeStream(stack.clients.kinesis, 'lifecycle')).map(
      (data) =>
        JSON.parse(Buffer.from(data).toString('utf8')) as {
          item: Record<string, unknown>;
          scan: { scanId: string };
        },
    );

    const active = items.filter(
      (item) => item.active !== undefined && 'BOOL' in item.active && item.active.BOOL,
    ).length;
    expect(status).toMatchObject({ state: 'COMPLETED', itemsScanned: 2000, recordsPut: active });
    expect(records.filter((r) => r.scan.scanId === start.scanId)).toHaveLength(active);
    expect(Object.keys(records[0]?.item ?? {}).sort()).toEqual(['active', 'amount', 'pk', 'sk']);
  });

  it('rejects an invalid filter expression at start with a clear error, writing nothing', async () => {
    const before = stack.ssm.value('/ddbscan/local/scan');
    await expect(
      call({ action: 'start', filter: 'active = = :x', values: { ':x': { S: 'a' } } }),
    ).rejects.toThrow(
      /ValidationError: Invalid filter: expected an input DynamoDB accepts \(DynamoDB said: .+\), received "active = = :x"\./,
    );
    expect(stack.ssm.value('/ddbscan/local/scan')).toBe(before);
  });

  it('runs a demo of parallel segments end to end', async () => {
    const result = await runDemo({ items: 1500, segments: 8 });
    expect(result.problems).toEqual([]);
    expect(result.completionEvents).toBe(1);
  });
});
