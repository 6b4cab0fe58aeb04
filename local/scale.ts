import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAwsClients } from '../lambda/adapters/clients';
import { ScanState, type StatusResponse } from '../lambda/contract';
import type { AttributeMap } from '../lambda/core/attribute-value';
import { createScannerHandler } from '../lambda/handlers/scanner';
import { reservedConcurrencyFor } from '../lib/dynamodb-kinesis-scanner';
import { invoke } from './demo';
import { createDemoTable, writeItems } from './demo-data';
import type { LocalHandler } from './local-lambda';
import { createStream } from './local-resources';
import { deployLocalScanner } from './local-scanner';
import { AWS_SSM_QUOTAS } from './local-ssm';
import { type LocalStack, startLocalStack } from './local-stack';
import { shardPages } from './stream-reader';

// The SDK warns on Node 20 that releases after January 2027 need Node 22; the lockfile pins working versions.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The control plane at scale, inside an account's real quotas: the local SSM throttles at 3
 * PutParameter/DeleteParameter(s) and 40 Get* calls a second (ThrottlingException "Rate
 * exceeded"), the local Lambda caps the function's concurrent executions at its reservation
 * (2 × concurrency + 10) and delivers some async events twice, and the real scanner handler
 * scans a table of small items with many segments and bounded chains.
 *
 * Usage: npm run scale [-- --items 200000 --runs 100x100,1000x100,10000x50 --timeout 120]
 */

/** The scanner's default share of SSM's 3 writes a second. */
const WRITES_PER_SECOND = 2;
const STATUS_POLL_MS = 3_000;
/** Async events delivered a second time, as Lambda's at-least-once queue may. */
const DUPLICATE_FRACTION = 0.05;
const STREAM_SHARDS = 8;

interface RunSpec {
  readonly segments: number;
  readonly concurrency: number;
}

interface RunResult {
  readonly segments: number;
  readonly concurrency: number;
  readonly items: number;
  readonly state: string;
  readonly secondsToCompleted: number;
  readonly peakChains: number;
  readonly peakSegmentInvocations: number;
  readonly peakInvocations: number;
  readonly lambdaLimit: number;
  readonly invocations: number;
  readonly failedInvocations: number;
  readonly failedOnThrottledControlCall: number;
  /** The first few errors of failed invocations. */
  readonly errorSamples: readonly string[];
  readonly asyncEventsDropped: number;
  readonly duplicateDeliveries: number;
  readonly ssmCalls: Record<string, number>;
  readonly ssmThrottled: Record<string, number>;
  readonly ssmWritesPerSecond: { readonly peak: number; readonly mean: number; readonly total: number };
  readonly statusPolls: number;
  readonly statusPollsFailed: number;
  readonly ssmCallsPerStatus: { readonly max: number; readonly mean: number };
  readonly parametersLeft: number;
  readonly recordsRead: number;
  readonly distinctItems: number;
  readonly duplicates: number;
  readonly everyItemArrived: boolean;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      items: { type: 'string', default: '200000' },
      runs: { type: 'string', default: '100x100,1000x100,10000x50' },
      timeout: { type: 'string', default: '120' },
      'max-minutes': { type: 'string', default: '20' },
      out: { type: 'string', default: join('bench-results', 'scale.json') },
    },
  });
  const items = Number(values.items);
  const timeoutMs = 1000 * Number(values.timeout);
  const runs = values.runs.split(',').map((text): RunSpec => {
    const [segments, concurrency] = text.split('x').map(Number);
    if (!Number.isInteger(segments) || !Number.isInteger(concurrency)) {
      throw new Error(`--runs: expected SEGMENTSxCONCURRENCY such as 1000x100, received "${text}"`);
    }
    return { segments: segments ?? 1, concurrency: concurrency ?? 1 };
  });
  const lambdaLimit = reservedConcurrencyFor(Math.max(...runs.map((r) => r.concurrency)));
  const stack = await startLocalStack({
    emulators: 'threads',
    ssmQuotas: AWS_SSM_QUOTAS,
    lambda: { concurrency: lambdaLimit, duplicateFraction: DUPLICATE_FRACTION },
  });
  try {
    const table = 'Scale';
    console.log(`Loading ${items.toLocaleString('en-US')} small items…`);
    await createDemoTable(stack.clients.dynamodb, table);
    await loadItems(stack, table, items);
    const results: RunResult[] = [];
    for (const [index, spec] of runs.entries()) {
      console.log(`\n${spec.segments} segments, concurrency ${spec.concurrency}:`);
      const result = await runOne(stack, table, items, spec, index + 1, {
        timeoutMs,
        lambdaLimit,
        maxMs: 60_000 * Number(values['max-minutes']),
      });
      results.push(result);
      console.log(formatRun(result));
    }
    mkdirSync(join(values.out, '..'), { recursive: true });
    writeFileSync(values.out, `${JSON.stringify({ items, timeoutMs, runs: results }, null, 2)}\n`);
    console.log(`\n${formatTable(results)}\n\nWrote ${values.out}`);
    const ok = results.every(
      (r) =>
        r.state === ScanState.completed &&
        r.everyItemArrived &&
        r.failedOnThrottledControlCall === 0 &&
        r.peakChains <= r.concurrency,
    );
    process.exitCode = ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

/** Small items in four parallel writers (BatchWriteItem, 25 at a time). */
async function loadItems(stack: LocalStack, table: string, count: number): Promise<void> {
  const all: AttributeMap[] = Array.from({ length: count }, (_, i) => ({
    pk: { S: `customer#${i % 9973}` },
    sk: { N: String(i) },
    status: { S: i % 3 === 0 ? 'open' : 'closed' },
    amount: { N: String(i % 1000) },
  }));
  const slices = 4;
  const size = Math.ceil(count / slices);
  await Promise.all(
    Array.from({ length: slices }, (_, s) =>
      writeItems(stack.clients.dynamodb, table, all.slice(s * size, (s + 1) * size)),
    ),
  );
}

async function runOne(
  stack: LocalStack,
  table: string,
  items: number,
  spec: RunSpec,
  id: number,
  limits: { readonly timeoutMs: number; readonly lambdaLimit: number; readonly maxMs: number },
): Promise<RunResult> {
  const stream = `scale-${id}`;
  await createStream(stack.clients.kinesis, stream, STREAM_SHARDS);
  // Chains and invocations running now, observed around the real handler.
  const running = new Map<number, number>();
  let runningSegments = 0;
  let peakChains = 0;
  let peakSegmentInvocations = 0;
  // Every failed invocation's error, as the handler threw it.
  const errors: string[] = [];
  const observed =
    (handler: LocalHandler): LocalHandler =>
    async (event, context) => {
      try {
        return await handler(event, context);
      } catch (error) {
        errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        throw error;
      }
    };
  const instrument =
    (inner: LocalHandler): LocalHandler =>
    async (event, context) => {
      const handler = observed(inner);
      const chain = segmentOf(event);
      if (chain === undefined) return handler(event, context);
      running.set(chain, (running.get(chain) ?? 0) + 1);
      runningSegments++;
      peakChains = Math.max(peakChains, running.size);
      peakSegmentInvocations = Math.max(peakSegmentInvocations, runningSegments);
      try {
        return await handler(event, context);
      } finally {
        runningSegments--;
        const left = (running.get(chain) ?? 1) - 1;
        if (left === 0) running.delete(chain);
        else running.set(chain, left);
      }
    };
  const scanner = await deployLocalScanner(stack, {
    tableName: table,
    streamName: stream,
    functionName: `ddbscan-scale-${id}`,
    parameterName: `/ddbscan/scale${id}`,
    timeoutMs: limits.timeoutMs,
    checkpointWritesPerSecond: WRITES_PER_SECOND,
    concurrency: spec.concurrency,
    instrument,
  });
  // Status is asked through a handler of its own, whose SSM client counts its calls.
  const statusClients = createAwsClients(stack.env);
  let statusCalls = 0;
  statusClients.ssm.middlewareStack.add(
    (next) => async (args) => {
      statusCalls++;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'countStatusCalls' },
  );
  const statusHandler = createScannerHandler({
    env: {
      ...stack.env,
      SCANNER_TABLE_NAME: table,
      SCANNER_STREAM_NAME: stream,
      SCANNER_PARAMETER_NAME: scanner.parameterName,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    },
    clients: statusClients,
  });
  const askStatus = async (): Promise<StatusResponse> =>
    (await statusHandler(
      { action: 'status' },
      { functionName: scanner.functionName, getRemainingTimeInMillis: () => 60_000 },
    )) as StatusResponse;

  // Quotas are shared across runs: let the buckets fill before the next run starts.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  stack.ssm.resetStats();
  const lambdaBefore = { ...stack.lambda.stats };
  const startedAt = Date.now();
  await invoke(stack.clients.lambda, scanner.functionName, {
    action: 'start',
    segments: spec.segments,
    concurrency: spec.concurrency,
  });
  const perStatus: number[] = [];
  let polls = 0;
  let failedPolls = 0;
  let status: StatusResponse | undefined;
  let lastLine = 0;
  while (Date.now() - startedAt < limits.maxMs) {
    await new Promise((resolve) => setTimeout(resolve, STATUS_POLL_MS));
    polls++;
    const before = statusCalls;
    try {
      status = await askStatus();
      perStatus.push(statusCalls - before);
    } catch {
      failedPolls++;
      continue;
    }
    if (Date.now() - lastLine > 15_000) {
      lastLine = Date.now();
      console.log(
        `  ${Math.round((Date.now() - startedAt) / 1000)} s: ${status.state}, ${status.itemsScanned} items, segments ${status.segments.done}/${status.segments.total}, ${running.size} chains running`,
      );
    }
    if (status.state !== ScanState.running && status.state !== ScanState.stopping) break;
  }
  const seconds = status?.finishedAt ? (Date.parse(status.finishedAt) - startedAt) / 1000 : Number.NaN;
  await stack.lambda.idle();
  const writes = stack.ssm.writeRate();
  const stats = stack.lambda.stats;
  const keys = new Map<string, number>();
  let records = 0;
  for await (const page of shardPages(stack.clients.kinesis, stream, 10_000)) {
    for (const record of page.records) {
      if (!record.Data) continue;
      records++;
      const parsed = JSON.parse(Buffer.from(record.Data).toString('utf8')) as {
        dynamodb: { Keys: { sk: { N: string } } };
      };
      const key = parsed.dynamodb.Keys.sk.N;
      keys.set(key, (keys.get(key) ?? 0) + 1);
    }
  }
  const prefix = `${scanner.parameterName}/`;
  return {
    ...spec,
    items,
    state: status?.state ?? 'UNKNOWN',
    secondsToCompleted: Math.round(seconds * 10) / 10,
    peakChains,
    peakSegmentInvocations,
    peakInvocations: stats.peakConcurrency,
    lambdaLimit: limits.lambdaLimit,
    invocations: stats.invocations - lambdaBefore.invocations,
    failedInvocations: stats.errors - lambdaBefore.errors + (stats.timeouts - lambdaBefore.timeouts),
    failedOnThrottledControlCall: errors.filter((e) => /Throttling|Rate exceeded/i.test(e)).length,
    errorSamples: errors.slice(0, 3),
    asyncEventsDropped: stats.dropped - lambdaBefore.dropped,
    duplicateDeliveries: stats.duplicates - lambdaBefore.duplicates,
    ssmCalls: { ...stack.ssm.calls },
    ssmThrottled: { ...stack.ssm.throttled },
    ssmWritesPerSecond: { peak: writes.peak, mean: Math.round(writes.mean * 100) / 100, total: writes.total },
    statusPolls: polls,
    statusPollsFailed: failedPolls,
    ssmCallsPerStatus: {
      max: Math.max(0, ...perStatus),
      mean:
        perStatus.length === 0
          ? 0
          : Math.round((10 * perStatus.reduce((a, b) => a + b, 0)) / perStatus.length) / 10,
    },
    parametersLeft: stack.ssm.names().filter((name) => name.startsWith(prefix)).length,
    recordsRead: records,
    distinctItems: keys.size,
    duplicates: records - keys.size,
    everyItemArrived: keys.size === items,
  };
}

function segmentOf(event: unknown): number | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const fields = event as Record<string, unknown>;
  return fields.action === 'segment' && typeof fields.segment === 'number' ? fields.segment : undefined;
}

function formatRun(r: RunResult): string {
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  return [
    `  ${r.state} in ${r.secondsToCompleted} s; ${r.distinctItems}/${r.items} items arrived, ${r.duplicates} duplicates`,
    `  chains at once: peak ${r.peakChains} (concurrency ${r.concurrency}); invocations at once: peak ${r.peakInvocations} (limit ${r.lambdaLimit})`,
    `  invocations ${r.invocations}, failed ${r.failedInvocations} (${r.failedOnThrottledControlCall} on a throttled control call), dropped ${r.asyncEventsDropped}`,
    ...r.errorSamples.map((e) => `  failed: ${e.slice(0, 200)}`),
    `  SSM calls ${sum(r.ssmCalls)} (${sum(r.ssmThrottled)} throttled): ${JSON.stringify(r.ssmCalls)}`,
    `  SSM writes a second: peak ${r.ssmWritesPerSecond.peak}, mean ${r.ssmWritesPerSecond.mean}`,
    `  status: ${r.statusPolls} polls, ${r.statusPollsFailed} failed, SSM calls per status max ${r.ssmCallsPerStatus.max}, mean ${r.ssmCallsPerStatus.mean}`,
    `  parameters left under the scan's path: ${r.parametersLeft}`,
  ].join('\n');
}

function formatTable(results: readonly RunResult[]): string {
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const header =
    '| segments | concurrency | state | s to COMPLETED | peak chains | SSM calls (throttled) | SSM writes/s peak, mean | calls per status | invocations (failed) | duplicates | every item |';
  const rule = `|${header
    .split('|')
    .slice(1, -1)
    .map(() => ' --- ')
    .join('|')}|`;
  const rows = results.map(
    (r) =>
      `| ${r.segments} | ${r.concurrency} | ${r.state} | ${r.secondsToCompleted} | ${r.peakChains} | ${sum(r.ssmCalls)} (${sum(r.ssmThrottled)}) | ${r.ssmWritesPerSecond.peak}, ${r.ssmWritesPerSecond.mean} | ${r.ssmCallsPerStatus.max} | ${r.invocations} (${r.failedInvocations}) | ${r.duplicates} | ${r.everyItemArrived ? 'yes' : 'NO'} |`,
  );
  return [header, rule, ...rows].join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
