import { setTimeout as sleep } from 'node:timers/promises';
import { CreateStreamCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { ScanState, type StartResponse, type StatusResponse } from '../lambda/contract';
import { checkDelivery, type DeliveryReport } from './delivery-check';
import { createDemoTable, generateItems, writeItems } from './demo-data';
import type { LocalLambdaOptions } from './local-lambda';
import { deployLocalScanner } from './local-scanner';
import { startLocalStack } from './local-stack';
import { readWholeStream } from './stream-reader';

export interface DemoOptions {
  /** Items in the demo table. @default 3000 */
  readonly items?: number;
  readonly seed?: number;
  /** Simulated function timeout, short so that the chain hands off often. @default 1050 ms */
  readonly timeoutMs?: number;
  /** Hand off when less than this remains. @default 1000 ms (so each invocation works about 50 ms) */
  readonly handoffMs?: number;
  /** @default 250 ms */
  readonly checkpointIntervalMs?: number;
  /** @default 50 items */
  readonly pageSize?: number;
  readonly shards?: number;
  /** Local Lambda behaviour, e.g. duplicate delivery of every async event. */
  readonly lambda?: LocalLambdaOptions;
  /** Where progress lines go. @default nowhere */
  readonly print?: (line: string) => void;
}

export interface DemoResult {
  readonly ok: boolean;
  readonly scanId: string;
  readonly status: StatusResponse;
  readonly delivery: DeliveryReport;
  readonly invocations: number;
  readonly seconds: number;
  /** Why the demo failed, when it did. */
  readonly problems: readonly string[];
}

/**
 * The demo: starts the local stack, fills a table with varied items, runs the real scanner
 * handler through the local Lambda endpoint with a short timeout so that the chain hands off
 * many times, reads the whole stream back and proves that every item arrived unchanged.
 *
 * @example
 * const result = await runDemo({ items: 3000, print: console.log });
 * if (!result.ok) process.exitCode = 1;
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const print = options.print ?? (() => {});
  const count = options.items ?? 3000;
  const tableName = 'DemoOrders';
  const streamName = 'demo-scan-stream';
  const stack = await startLocalStack({ lambda: { asyncRetryDelaysMs: [200, 400], ...options.lambda } });
  try {
    print(
      `local stack up: DynamoDB ${stack.env.AWS_ENDPOINT_URL_DYNAMODB}, Kinesis ${stack.env.AWS_ENDPOINT_URL_KINESIS}`,
    );
    const items = generateItems(count, { seed: options.seed });
    await createDemoTable(stack.clients.dynamodb, tableName);
    await stack.clients.kinesis.send(
      new CreateStreamCommand({ StreamName: streamName, ShardCount: options.shards ?? 4 }),
    );
    const loadStarted = Date.now();
    await writeItems(stack.clients.dynamodb, tableName, items);
    print(
      `table ${tableName}: ${count} items written in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s`,
    );

    const scanner = await deployLocalScanner(stack, {
      tableName,
      streamName,
      timeoutMs: options.timeoutMs ?? 1050,
      handoffMs: options.handoffMs ?? 1000,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 250,
      pageSize: options.pageSize ?? 50,
    });
    const started = Date.now();
    const start = (await invoke(stack.clients.lambda, scanner.functionName, {
      action: 'start',
    })) as StartResponse;
    print(`scan ${start.scanId} started`);
    let status = (await invoke(stack.clients.lambda, scanner.functionName, {
      action: 'status',
    })) as StatusResponse;
    let lastLine = 0;
    while (status.state === ScanState.running) {
      if (Date.now() - started > 10 * 60_000)
        throw new Error('The demo scan did not finish within 10 minutes.');
      await sleep(200);
      status = (await invoke(stack.clients.lambda, scanner.functionName, {
        action: 'status',
      })) as StatusResponse;
      if (Date.now() - lastLine >= 1000) {
        lastLine = Date.now();
        print(`  ${status.state}: ${status.itemsScanned} items checkpointed, ${status.handoffs} hand-offs`);
      }
    }
    await stack.lambda.idle();
    const seconds = (Date.now() - started) / 1000;
    const records = await readWholeStream(stack.clients.kinesis, streamName);
    const delivery = checkDelivery(items, ['pk', 'sk'], records, start.scanId);

    const problems: string[] = [];
    if (status.state !== ScanState.completed)
      problems.push(`the scan ended ${status.state}: ${status.error ?? 'no error recorded'}`);
    if (delivery.missing > 0)
      problems.push(`${delivery.missing} items missing, e.g. ${delivery.missingExamples.join(', ')}`);
    if (delivery.altered > 0)
      problems.push(`${delivery.altered} items arrived altered, e.g. ${delivery.alteredExamples.join(', ')}`);
    if (delivery.unexpected > 0) problems.push(`${delivery.unexpected} unexpected records on the stream`);

    print('');
    print(`scan ${start.scanId}: ${status.state} in ${seconds.toFixed(1)} s`);
    print(`  items in table            ${delivery.itemsInTable}`);
    print(`  records read from stream  ${delivery.recordsRead}`);
    print(`  distinct items received   ${delivery.distinctItems}`);
    print(`  missing                   ${delivery.missing}`);
    print(`  altered                   ${delivery.altered}`);
    print(`  duplicates                ${delivery.duplicates}`);
    print(`  hand-offs                 ${status.handoffs}`);
    print(`  Lambda invocations        ${stack.lambda.stats.invocations}`);
    print(`  SSM writes                ${stack.ssm.calls.PutParameter ?? 0}`);
    print(problems.length === 0 ? 'every item arrived, unchanged' : `FAILED: ${problems.join('; ')}`);
    return {
      ok: problems.length === 0,
      scanId: start.scanId,
      status,
      delivery,
      invocations: stack.lambda.stats.invocations,
      seconds,
      problems,
    };
  } finally {
    await stack.stop();
  }
}

/** Invokes synchronously, as `aws lambda invoke` does, and fails on a function error. */
export async function invoke(client: LambdaClient, functionName: string, payload: unknown): Promise<unknown> {
  const output = await client.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(payload)) }),
  );
  const body: unknown = output.Payload ? JSON.parse(Buffer.from(output.Payload).toString('utf8')) : null;
  if (output.FunctionError) {
    const error = body as { errorType?: string; errorMessage?: string } | null;
    throw new Error(`${error?.errorType ?? 'Error'}: ${error?.errorMessage ?? 'the function failed'}`);
  }
  return body;
}
