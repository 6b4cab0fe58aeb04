import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { createConsumerHandler } from '../lambda/consumer/consumer-handler';
import { createFailureCounterHandler } from '../lambda/consumer/failure-counter';
import {
  CompletionEvent,
  ConsumerEnv,
  type ConsumerProgress,
  type FailuresResponse,
  ProcessedEvent,
  ProgressEnv,
  type ReplayResponse,
  ScanState,
  type StartResponse,
  type StatusResponse,
} from '../lambda/contract';
import { checkDelivery, type DeliveryReport } from './delivery-check';
import { createDemoTable, generateItems, writeItems } from './demo-data';
import { pollStream } from './kinesis-poller';
import type { LocalLambdaOptions } from './local-lambda';
import { createProgressTable, createStream, createTable } from './local-resources';
import { deployLocalScanner } from './local-scanner';
import { type LocalStack, startLocalStack } from './local-stack';
import { readWholeStream } from './stream-reader';

export interface DemoOptions {
  /** Items in the demo table. @default 3000 */
  readonly items?: number;
  readonly seed?: number;
  /** Parallel segments. @default 4 */
  readonly segments?: number;
  /** Simulated function timeout, short so that the chains hand off often. @default 1050 ms */
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
  /**
   * The example consumer fails this many items (the first ones generated) on every attempt, as
   * a consumer with a bug would: they end in its failure destination and are counted failed.
   * @default 0
   */
  readonly failItems?: number;
  /** Where progress lines go. @default nowhere */
  readonly print?: (line: string) => void;
}

export interface DemoResult {
  readonly ok: boolean;
  readonly scanId: string;
  readonly status: StatusResponse;
  readonly delivery: DeliveryReport;
  /** Completion events the scan published to EventBridge. */
  readonly completionEvents: number;
  /** Distinct items the example consumer processed (idempotent on the record id). */
  readonly consumedItems: number;
  /** The example consumer's progress as `status` shows it once it has read the whole stream. */
  readonly consumer: ConsumerProgress | undefined;
  /** "Scan Processed" events the example consumer published. */
  readonly processedEvents: number;
  readonly invocations: number;
  readonly seconds: number;
  /** Why the demo failed, when it did. */
  readonly problems: readonly string[];
}

/**
 * The demo: starts the local stack, fills a table with varied items, runs the real scanner
 * handler through the local Lambda endpoint as parallel segments with a short timeout so that
 * every chain hands off many times, reads the whole stream back and proves that every item
 * arrived unchanged and that exactly one completion event was published.
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
  const progressTable = 'ddbscan-progress';
  const stack = await startLocalStack({ lambda: { asyncRetryDelaysMs: [200, 400], ...options.lambda } });
  try {
    print(
      `local stack up: DynamoDB ${stack.env.AWS_ENDPOINT_URL_DYNAMODB}, Kinesis ${stack.env.AWS_ENDPOINT_URL_KINESIS}`,
    );
    const items = generateItems(count, { seed: options.seed });
    await createDemoTable(stack.clients.dynamodb, tableName);
    await createStream(stack.clients.kinesis, streamName, options.shards ?? 4);
    await createProgressTable(stack.clients.dynamodb, progressTable);
    const loadStarted = Date.now();
    await writeItems(stack.clients.dynamodb, tableName, items);
    print(`table ${tableName}: ${count} items written in ${seconds(loadStarted)} s`);

    const scanner = await deployLocalScanner(stack, {
      tableName,
      streamName,
      timeoutMs: options.timeoutMs ?? 1050,
      handoffMs: options.handoffMs ?? 1000,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 250,
      pageSize: options.pageSize ?? 50,
      progress: { tableName: progressTable, consumers: [EXAMPLE_CONSUMER] },
    });
    const started = Date.now();
    const segments = options.segments ?? 4;
    const start = (await invoke(stack.clients.lambda, scanner.functionName, {
      action: 'start',
      segments,
    })) as StartResponse;
    print(`scan ${start.scanId} started with ${start.segments} segments`);
    const status = await waitForScan(stack, scanner.functionName, print);
    const elapsed = (Date.now() - started) / 1000;
    print(`scan ${status.state} in ${elapsed.toFixed(1)} s; reading the stream back`);
    const reading = Date.now();
    const records = await readWholeStream(
      stack.clients.kinesis,
      streamName,
      everyFewSeconds((n) => print(`  ${n} records read`)),
    );
    const delivery = checkDelivery(items, ['pk', 'sk'], records, start.scanId);
    print(`${records.length} records read in ${seconds(reading)} s; the example consumer processes them`);
    const consuming = Date.now();
    const failing = new Set(items.slice(0, options.failItems ?? 0).map((item) => itemKey(item)));
    const consumed = await runExampleConsumer(
      stack,
      streamName,
      progressTable,
      failing,
      everyFewSeconds((n) => print(`  ${n} of ${records.length} records consumed`)),
    );
    print(`${consumed.records} records consumed in ${seconds(consuming)} s`);
    const completionEvents = stack.eventbridge.events.filter(
      (e) =>
        e.detailType === CompletionEvent.detailType &&
        (e.detail as { scanId?: unknown }).scanId === start.scanId,
    ).length;
    const processedEvents = stack.eventbridge.events.filter(
      (e) =>
        e.detailType === ProcessedEvent.detailType &&
        (e.detail as { scanId?: unknown }).scanId === start.scanId,
    );
    const progressOf = async () =>
      (
        (await invoke(stack.clients.lambda, scanner.functionName, { action: 'status' })) as StatusResponse
      ).consumers?.find((c) => c.consumer === EXAMPLE_CONSUMER);
    const consumer = await progressOf();
    // The failing consumer's story: list what failed, fix it, replay those records, consume again.
    let replay: { listed: number; replayed: number; after: ConsumerProgress | undefined } | undefined;
    if (failing.size > 0) {
      const request = { consumer: EXAMPLE_CONSUMER };
      const failures = (await invoke(stack.clients.lambda, scanner.functionName, {
        action: 'failures',
        ...request,
      })) as FailuresResponse;
      print(`ddbscan failures --consumer ${EXAMPLE_CONSUMER}: ${failures.records.length} records failed`);
      for (const r of failures.records)
        print(`    ${JSON.stringify(r.keys)}  at ${r.shardId}/${r.sequenceNumber}`);
      failing.clear();
      const replayed = (await invoke(stack.clients.lambda, scanner.functionName, {
        action: 'replay',
        ...request,
      })) as ReplayResponse;
      print(
        `the consumer is fixed; ddbscan replay --failed: ${replayed.replayed} records put back on the stream`,
      );
      const again = await runExampleConsumer(stack, streamName, progressTable, failing, () => {});
      print(
        `the consumer read the stream again: ${again.items} items processed (the rest were already done)`,
      );
      replay = { listed: failures.records.length, replayed: replayed.replayed, after: await progressOf() };
    }

    const problems: string[] = [];
    if (status.state !== ScanState.completed)
      problems.push(`the scan ended ${status.state}: ${status.error ?? 'no error recorded'}`);
    if (delivery.missing > 0)
      problems.push(`${delivery.missing} items missing, e.g. ${delivery.missingExamples.join(', ')}`);
    if (delivery.altered > 0)
      problems.push(`${delivery.altered} items arrived altered, e.g. ${delivery.alteredExamples.join(', ')}`);
    if (delivery.unexpected > 0) problems.push(`${delivery.unexpected} unexpected records on the stream`);
    if (completionEvents !== 1) problems.push(`${completionEvents} completion events instead of 1`);
    const processable = count - (options.failItems ?? 0);
    if (consumed.items !== processable)
      problems.push(`the example consumer processed ${consumed.items} items, not ${processable}`);
    const failedCount = count - processable;
    const expected = failedCount > 0 ? 'FAILED' : 'PROCESSED';
    if (consumer?.state !== expected || consumer.processed !== processable || consumer.failed !== failedCount)
      problems.push(
        `the example consumer's progress reads ${consumer?.state ?? 'nothing'}: ${consumer?.processed ?? 0} processed, ${consumer?.failed ?? 0} failed, of ${consumer?.total ?? '?'}`,
      );
    if (replay !== undefined) {
      if (replay.listed !== failedCount || replay.replayed !== failedCount)
        problems.push(
          `${replay.listed} failed records listed and ${replay.replayed} replayed, not ${failedCount}`,
        );
      const after = replay.after;
      if (after?.state !== 'PROCESSED' || after.processed !== count || after.failed !== 0)
        problems.push(
          `after the replay the consumer reads ${after?.state ?? 'nothing'}: ${after?.processed ?? 0} processed, ${after?.failed ?? 0} failed, of ${count}`,
        );
    }
    if (processedEvents.length !== 1)
      problems.push(`${processedEvents.length} Scan Processed events instead of 1`);

    print('');
    print(`scan ${start.scanId}: ${status.state} in ${elapsed.toFixed(1)} s`);
    print(`  items in table            ${delivery.itemsInTable}`);
    print(`  records read from stream  ${delivery.recordsRead}`);
    print(`  distinct items received   ${delivery.distinctItems}`);
    print(`  missing                   ${delivery.missing}`);
    print(`  altered                   ${delivery.altered}`);
    print(`  duplicates                ${delivery.duplicates}`);
    print(`  segments                  ${status.segments.total}`);
    print(`  hand-offs                 ${status.handoffs}`);
    print(`  completion events         ${completionEvents}`);
    print(`  consumer: items processed ${consumed.items} (once each, of ${consumed.records} records)`);
    print(
      `  consumer progress         ${consumer?.consumer ?? EXAMPLE_CONSUMER} ${consumer?.state ?? 'none'}: ${consumer?.processed ?? 0} processed, ${consumer?.failed ?? 0} failed, of ${consumer?.total ?? '?'}`,
    );
    if (replay?.after)
      print(
        `  after the replay          ${replay.after.state}: ${replay.after.processed} processed, ${replay.after.failed} failed, of ${replay.after.total ?? '?'}`,
      );
    print(`  Scan Processed events     ${processedEvents.length}`);
    for (const event of processedEvents) print(`    ${JSON.stringify(event.detail)}`);
    print(`  Lambda invocations        ${stack.lambda.stats.invocations}`);
    print(`  SSM writes                ${stack.ssm.calls.PutParameter ?? 0}`);
    if (problems.length > 0) print(`FAILED: ${problems.join('; ')}`);
    else if (failedCount > 0)
      print(
        `every item arrived, unchanged; the consumer failed ${failedCount} items, as asked: they were counted, listed, replayed and processed`,
      );
    else print('every item arrived, unchanged');
    return {
      ok: problems.length === 0,
      scanId: start.scanId,
      status,
      delivery,
      completionEvents,
      consumedItems: consumed.items,
      consumer,
      processedEvents: processedEvents.length,
      invocations: stack.lambda.stats.invocations,
      seconds: elapsed,
      problems,
    };
  } finally {
    await stack.stop();
  }
}

/**
 * Polls `status` until the scan leaves RUNNING and STOPPING and every invocation has ended.
 * It gives up only when the scan stops moving (no checkpoint, hand-off or state change for
 * `stallMs`), never after a fixed time: on a busy machine a scan is slower, not stuck.
 */
export async function waitForScan(
  stack: LocalStack,
  functionName: string,
  print: (line: string) => void = () => {},
  stallMs = 10 * 60_000,
): Promise<StatusResponse> {
  let lastLine = 0;
  let lastMove = Date.now();
  let last = '';
  for (;;) {
    const status = await statusOrNull(stack, functionName);
    if (status === null) {
      // The status call ran out of its (short, simulated) time on a busy machine: ask again.
      if (Date.now() - lastMove > stallMs) throw new Error(`No status answered for ${stallMs / 1000} s.`);
      await sleep(100);
      continue;
    }
    const active = status.state === ScanState.running || status.state === ScanState.stopping;
    if (!active) {
      await stack.lambda.idle();
      for (let attempt = 1; ; attempt++) {
        const final = await statusOrNull(stack, functionName);
        if (final !== null) return final;
        if (attempt >= 20) throw new Error('No status answered after the scan ended: 20 calls timed out.');
      }
    }
    const moved = [status.state, status.itemsScanned, status.handoffs, status.segments.done].join(' ');
    if (moved !== last) {
      last = moved;
      lastMove = Date.now();
    } else if (Date.now() - lastMove > stallMs) {
      throw new Error(`The scan made no progress for ${stallMs / 1000} s: ${JSON.stringify(status)}`);
    }
    if (Date.now() - lastLine >= 1000) {
      lastLine = Date.now();
      print(
        `  ${status.state}: ${status.itemsScanned} items checkpointed, ${status.segments.done}/${status.segments.total} segments done, ${status.handoffs} hand-offs`,
      );
    }
    await sleep(100);
  }
}

/** The scan's status, or null when the call timed out (the local Lambda's timeout is short). */
async function statusOrNull(stack: LocalStack, functionName: string): Promise<StatusResponse | null> {
  try {
    return (await invoke(stack.clients.lambda, functionName, { action: 'status' })) as StatusResponse;
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('Sandbox.Timedout')) return null;
    throw error;
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

/**
 * Runs the example consumer (Powertools batch processing, idempotent on the record id) over the
 * whole stream, as an event source mapping would, and counts the distinct items it processed.
 */
async function runExampleConsumer(
  stack: LocalStack,
  streamName: string,
  progressTable: string,
  failing: ReadonlySet<string>,
  onProgress: (records: number) => void,
): Promise<{ items: number; records: number }> {
  const idempotencyTable = 'ddbscan-idempotency';
  const { TableNames = [] } = await stack.clients.dynamodb.send(new ListTablesCommand({}));
  if (!TableNames.includes(idempotencyTable)) {
    await createTable(stack.clients.dynamodb, {
      TableName: idempotencyTable,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
  }
  const processed = new Set<string>();
  const consumer = createConsumerHandler({
    env: {
      ...stack.env,
      [ConsumerEnv.idempotencyTable]: idempotencyTable,
      [ConsumerEnv.progressTable]: progressTable,
      [ConsumerEnv.consumerName]: EXAMPLE_CONSUMER,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
    process: async (record) => {
      const key = itemKey(record.keys);
      if (failing.has(key)) throw new Error(`the demo fails item ${key}`);
      processed.add(key);
    },
  });
  // The event source mapping's on-failure queue, and the failure counter that drains it.
  const failureQueueArn = 'arn:aws:sqs:us-east-1:000000000000:example-consumer-failures';
  const counter = createFailureCounterHandler({
    env: {
      ...stack.env,
      [ProgressEnv.progressTable]: progressTable,
      [ProgressEnv.consumers]: JSON.stringify([{ name: EXAMPLE_CONSUMER, failureQueueArn }]),
      [ProgressEnv.streamName]: streamName,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
  });
  const onFailure = async (body: string) => {
    const message = { messageId: randomUUID(), body, eventSourceARN: failureQueueArn };
    const answer = await counter({ Records: [message as never] }, { awsRequestId: randomUUID() });
    if (answer.batchItemFailures.length > 0)
      throw new Error('the failure counter could not count a failed batch');
  };
  const report = await pollStream(stack.clients.kinesis, streamName, consumer, { onProgress, onFailure });
  return { items: processed.size, records: report.records };
}

/** An item's key as one string (binary as base64), the same from the table's item and from the record. */
function itemKey(item: Readonly<Record<string, unknown>>): string {
  const { pk, sk } = item as Record<string, unknown>;
  return JSON.stringify({ pk, sk }, (_, v) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
  );
}

/** The example consumer's name in its progress and its "Scan Processed" event. */
const EXAMPLE_CONSUMER = 'example-consumer';

/** The callback, called at most every few seconds: progress that never goes silent for long, nor floods. */
function everyFewSeconds<T>(report: (value: T) => void): (value: T) => void {
  let last = Date.now();
  return (value) => {
    if (Date.now() - last < 5000) return;
    last = Date.now();
    report(value);
  };
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}
