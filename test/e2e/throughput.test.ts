import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StartResponse } from '../../lambda/contract';
import type { AttributeMap } from '../../lambda/core/attribute-value';
import { checkDelivery } from '../../local/delivery-check';
import { invoke, waitForScan } from '../../local/demo';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { readWholeStream } from '../../local/stream-reader';

describe('throughput limits on the local stack', () => {
  let stack: LocalStack;
  let items: AttributeMap[];
  const functionName = 'ddbscan-local';

  beforeEach(async () => {
    stack = await startLocalStack();
    items = generateItems(300, { bigEvery: 0 });
    await createDemoTable(stack.clients.dynamodb, 'Orders');
    await writeItems(stack.clients.dynamodb, 'Orders', items);
    await createStream(stack.clients.kinesis, 'paced', 2);
    // The function's full timeout: no hand-off, so each chain keeps one budget for the whole scan.
    await deployLocalScanner(stack, {
      tableName: 'Orders',
      streamName: 'paced',
      pageSize: 20,
      logLevel: 'SILENT',
    });
  });
  afterEach(async () => {
    await stack.stop();
  });

  it('slows a scan to maxItemsPerSecond and still delivers every item', async () => {
    const startedAt = Date.now();
    const start = (await invoke(stack.clients.lambda, functionName, {
      action: 'start',
      segments: 2,
      maxItemsPerSecond: 150,
    })) as StartResponse;
    const status = await waitForScan(stack, functionName, undefined, 10_000);
    const elapsed = Date.now() - startedAt;

    expect(status).toMatchObject({ state: 'COMPLETED', itemsScanned: 300, recordsPut: 300 });
    // 75 records a second per segment, and one segment has at least 150 items: less its fifth
    // of a second's worth (15) and one page (20) that may go ahead, at least 1.5 s. Unlimited,
    // this scan takes about 0.5 s here.
    const scanned = Date.parse(status.finishedAt ?? '') - Date.parse(status.startedAt ?? '');
    expect(scanned).toBeGreaterThanOrEqual(1200);
    expect(elapsed).toBeGreaterThanOrEqual(scanned);
    const delivery = checkDelivery(
      items,
      ['pk', 'sk'],
      await readWholeStream(stack.clients.kinesis, 'paced'),
      start.scanId,
    );
    expect(delivery).toMatchObject({ itemsInTable: 300, distinctItems: 300, missing: 0, altered: 0 });
  });
});
