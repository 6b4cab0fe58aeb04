import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import type { StartResponse, StatusResponse } from '../lambda/contract';
import type { AttributeMap } from '../lambda/core/attribute-value';
import { createScannerHandler } from '../lambda/handlers/scanner';
import { invoke, waitForScan } from './demo';
import { createDemoTable, generateItems, writeItems } from './demo-data';
import { createStream } from './local-resources';
import { deployLocalScanner } from './local-scanner';
import { type LocalStack, startLocalStack } from './local-stack';
import { ShardLimits } from './shard-limits';
import { readWholeStream } from './stream-reader';

// The SDK warns on Node 20 that releases after January 2027 need Node 22; the lockfile pins working versions.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** An AWS-like profile: a fixed latency per call and per-shard Kinesis limits. */
interface Profile {
  readonly latencyMs: number;
  readonly shards: number;
  readonly items: number;
  readonly itemBytes: number;
}

interface Run {
  readonly itemsPerSecond: number;
  readonly seconds: number;
  readonly putRecordsCalls: number;
  readonly ssmWrites: number;
  readonly invocations: number;
  readonly throttledEntries: number;
  readonly lost: number;
}

/** Items of about `bytes` each, keyed pk (S) and sk (N) like the demo table. */
function benchItems(count: number, bytes: number): AttributeMap[] {
  return Array.from({ length: count }, (_, i) => ({
    pk: { S: `customer#${i % 997}` },
    sk: { N: String(i) },
    payload: { S: 'x'.repeat(Math.max(0, bytes - 40)) },
  }));
}

/** A fresh local stack with the table loaded, then the profile switched on. */
async function prepare(
  profile: Profile,
): Promise<{ stack: LocalStack; limits: ShardLimits; counts: { puts: number } }> {
  const stack = await startLocalStack();
  await createDemoTable(stack.clients.dynamodb, 'Bench');
  await writeItems(stack.clients.dynamodb, 'Bench', benchItems(profile.items, profile.itemBytes));
  await createStream(stack.clients.kinesis, 'bench', profile.shards);
  const limits = new ShardLimits(profile.shards);
  const counts = { puts: 0 };
  stack.faults.latencyMs = profile.latencyMs;
  stack.faults.rule = (call) => {
    if (call.operation !== 'PutRecords') return undefined;
    counts.puts++;
    return { kind: 'fail-entries', errorFor: (_, entry) => limits.admit(entry) };
  };
  return { stack, limits, counts };
}

/** The scanner: the real handler chain, with production settings, on the profile. */
async function runScanner(profile: Profile, segments: number): Promise<Run> {
  const { stack, limits, counts } = await prepare(profile);
  try {
    const { functionName } = await deployLocalScanner(stack, { tableName: 'Bench', streamName: 'bench' });
    const started = Date.now();
    const start = (await invoke(stack.clients.lambda, functionName, {
      action: 'start',
      segments,
    })) as StartResponse;
    const status: StatusResponse = await waitForScan(stack, functionName);
    const seconds = (Date.now() - started) / 1000;
    const lost = await countLost(stack, profile.items, start.scanId);
    return {
      itemsPerSecond: Math.round(status.itemsScanned / seconds),
      seconds,
      putRecordsCalls: counts.puts,
      ssmWrites: stack.ssm.calls.PutParameter ?? 0,
      // Async invocations only (the chains and their hand-offs), not the harness's status polls.
      invocations: stack.lambda.stats.events,
      throttledEntries: limits.throttled,
      lost,
    };
  } finally {
    await stack.stop();
  }
}

/**
 * The naive loop the scanner is compared with: scan a page of 500, put it (resending failed
 * entries), write the checkpoint, repeat.
 */
async function runNaive(profile: Profile): Promise<Run> {
  const { stack, limits, counts } = await prepare(profile);
  const { dynamodb, kinesis, ssm } = stack.clients;
  try {
    const started = Date.now();
    let exclusiveStartKey: Record<string, AttributeValue> | undefined;
    let items = 0;
    let writes = 0;
    do {
      const page = await dynamodb.send(
        new ScanCommand({ TableName: 'Bench', Limit: 500, ExclusiveStartKey: exclusiveStartKey }),
      );
      let pending: PutRecordsRequestEntry[] = (page.Items ?? []).map((item) => ({
        Data: Buffer.from(
          JSON.stringify({
            eventSource: 'aws:dynamodb',
            scan: { scanId: 'naive' },
            dynamodb: { NewImage: item },
          }),
        ),
        PartitionKey: createHash('md5')
          .update(JSON.stringify([item.pk, item.sk]))
          .digest('hex'),
      }));
      while (pending.length > 0) {
        const output = await kinesis.send(new PutRecordsCommand({ StreamName: 'bench', Records: pending }));
        pending = pending.filter((_, i) => output.Records?.[i]?.ErrorCode !== undefined);
        if (pending.length > 0) await sleep(100);
      }
      exclusiveStartKey = page.LastEvaluatedKey;
      await ssm.send(
        new PutParameterCommand({
          Name: '/naive',
          Value: JSON.stringify(exclusiveStartKey ?? {}),
          Type: 'String',
          Overwrite: true,
        }),
      );
      writes++;
      items += page.Items?.length ?? 0;
    } while (exclusiveStartKey);
    const seconds = (Date.now() - started) / 1000;
    return {
      itemsPerSecond: Math.round(items / seconds),
      seconds,
      putRecordsCalls: counts.puts,
      ssmWrites: writes,
      invocations: 0,
      throttledEntries: limits.throttled,
      lost: profile.items - items,
    };
  } finally {
    await stack.stop();
  }
}

async function countLost(stack: LocalStack, items: number, scanId: string): Promise<number> {
  stack.faults.latencyMs = 0;
  const seen = new Set<string>();
  for (const data of await readWholeStream(stack.clients.kinesis, 'bench')) {
    const record = JSON.parse(Buffer.from(data).toString('utf8')) as {
      scan?: { scanId?: string };
      dynamodb?: { Keys?: unknown };
    };
    if (record.scan?.scanId === scanId) seen.add(JSON.stringify(record.dynamodb?.Keys));
  }
  return items - seen.size;
}

const execFileAsync = promisify(execFile);

const perMillion = (count: number, items: number) => Math.round((count * 1_000_000) / items);

/**
 * Peak RSS of a chain scanning items of about 400 KB: the chain runs in a child process (so the
 * emulators' memory is not counted) against the local stack, with production page settings.
 */
async function measureMemory(items: number): Promise<{ peakRssMb: number; lost: number }> {
  const stack = await startLocalStack();
  try {
    const table = generateItems(items, { bigEvery: 1 });
    await createDemoTable(stack.clients.dynamodb, 'Bench');
    await writeItems(stack.clients.dynamodb, 'Bench', table);
    await createStream(stack.clients.kinesis, 'bench', 4);
    const { functionName } = await deployLocalScanner(stack, { tableName: 'Bench', streamName: 'bench' });
    // Keep the segment's event for the child process instead of running it here.
    const real = stack.lambda;
    const captured: unknown[] = [];
    const { env } = stack;
    real.register(
      functionName,
      async (event, context) => {
        if ((event as { action?: string }).action === 'segment') {
          captured.push(event);
          return null;
        }
        return createScannerHandler({ env: scannerEnv(env) })(event, context);
      },
      { timeoutMs: 900_000 },
    );
    const start = (await invoke(stack.clients.lambda, functionName, { action: 'start' })) as StartResponse;
    await stack.lambda.idle();
    const child = await execFileAsync(
      process.execPath,
      ['-r', 'tsx/cjs', join(__dirname, 'bench-chain.ts')],
      {
        env: { ...process.env, ...scannerEnv(env), BENCH_EVENT: JSON.stringify(captured[0]) },
      },
    );
    const { peakRssMb } = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as { peakRssMb: number };
    return { peakRssMb, lost: await countLost(stack, items, start.scanId) };
  } finally {
    await stack.stop();
  }
}

function scannerEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  return {
    ...env,
    SCANNER_TABLE_NAME: 'Bench',
    SCANNER_STREAM_NAME: 'bench',
    SCANNER_PARAMETER_NAME: '/ddbscan/local',
    POWERTOOLS_LOG_LEVEL: 'WARN',
  };
}

/**
 * `npm run bench`: the scanner against a naive sequential loop on an AWS-like profile (P1:
 * 40 ms per call, 32 shards, 20,000 items of 400 bytes), and the scanner's scaling with
 * segments. Prints a table and writes bench-results/latest.json. A run that loses an item fails.
 */
async function main(): Promise<number> {
  const p1: Profile = { latencyMs: 40, shards: 32, items: 20_000, itemBytes: 400 };
  const p2: Profile = { latencyMs: 20, shards: 2, items: 60_000, itemBytes: 400 };
  const naive = await runNaive(p1);
  const scaling: Record<number, Run> = {};
  for (const segments of [1, 2, 4, 8]) scaling[segments] = await runScanner(p1, segments);
  const one = scaling[1] as Run;
  const streamBound = await runScanner(p2, 4);
  const capacity = p2.shards * 1000;
  const memory = await measureMemory(120);
  const results = {
    profile: p1,
    p1: { scanner: one, naive, speedUp: Math.round((10 * one.itemsPerSecond) / naive.itemsPerSecond) / 10 },
    p2: {
      profile: p2,
      run: streamBound,
      recordsPerSecond: streamBound.itemsPerSecond,
      percentOfCapacity: Math.round((100 * streamBound.itemsPerSecond) / capacity),
      percentResent: Math.round((1000 * streamBound.throttledEntries) / p2.items) / 10,
    },
    memory: { items: 120, itemBytes: 390_000, ...memory },
    scaling: Object.fromEntries(
      Object.entries(scaling).map(([segments, run]) => [
        segments,
        { ...run, vsOneSegment: Math.round((10 * run.itemsPerSecond) / one.itemsPerSecond) / 10 },
      ]),
    ),
    costPerMillionItems: {
      ssmWrites: perMillion(one.ssmWrites, p1.items),
      lambdaInvocations: perMillion(one.invocations, p1.items),
      putRecordsCalls: perMillion(one.putRecordsCalls, p1.items),
    },
  };
  console.log('P1: 40 ms per call, 32 shards, 1 segment, 20,000 items of 400 bytes');
  console.log(`  scanner     ${one.itemsPerSecond} items/s (${one.seconds.toFixed(1)} s)`);
  console.log(`  naive loop  ${naive.itemsPerSecond} items/s (${naive.seconds.toFixed(1)} s)`);
  console.log(`  speed-up    ${results.p1.speedUp}x`);
  console.log('Scaling on P1:');
  for (const [segments, run] of Object.entries(results.scaling)) {
    console.log(
      `  ${segments} segment(s)  ${run.itemsPerSecond} items/s  (${run.vsOneSegment}x one segment)`,
    );
  }
  console.log('P2: 20 ms per call, 2 shards (2,000 records/s), 4 segments, 60,000 items');
  console.log(
    `  ${results.p2.recordsPerSecond} records/s = ${results.p2.percentOfCapacity}% of capacity; ${results.p2.percentResent}% of records throttled and resent (${streamBound.seconds.toFixed(1)} s)`,
  );
  console.log(`Memory: peak RSS of a chain scanning 120 items of 390 KB: ${memory.peakRssMb} MB`);
  console.log('Per million items (1 segment):');
  console.log(
    `  SSM writes ${results.costPerMillionItems.ssmWrites}, Lambda invocations ${results.costPerMillionItems.lambdaInvocations}, PutRecords calls ${results.costPerMillionItems.putRecordsCalls}`,
  );
  mkdirSync('bench-results', { recursive: true });
  writeFileSync('bench-results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
  const lost = [naive, streamBound, memory, ...Object.values(scaling)].reduce(
    (sum, run) => sum + run.lost,
    0,
  );
  if (lost > 0) console.error(`FAILED: ${lost} items lost`);
  return lost > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
