import { PassThrough } from 'node:stream';
import { DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { awsCapacitySource, type CapacitySource, type TableFacts } from '../../bin/commands/capacity-source';
import { CliError, ExitCode } from '../../bin/commands/cli-error';
import type { Io } from '../../bin/commands/io';
import { type PlanCommandOptions, parsePlanFlags, runPlanCommand } from '../../bin/commands/plan';
import {
  CHAIN_ITEMS_PER_SECOND,
  estimatePlan,
  PLAN_DEFAULTS,
  type PlanInput,
  planAssumptions,
  US_EAST_1_PRICES,
} from '../../bin/commands/plan-estimate';
import { autoSegments } from '../../lambda/core/scan-control';

const MIB = 1024 * 1024;

function input(overrides: Partial<PlanInput>): PlanInput {
  return {
    ...PLAN_DEFAULTS,
    tableBytes: 0,
    itemCount: 0,
    tableBilling: 'PAY_PER_REQUEST',
    tableReadCapacity: null,
    stream: { mode: 'ON_DEMAND', openShards: 4 },
    recordBytes: null,
    prices: US_EAST_1_PRICES,
    ...overrides,
  };
}

function cost(plan: ReturnType<typeof estimatePlan>, item: string): number | undefined {
  return plan.cost.lines.find((l) => l.item === item)?.usd;
}

describe('estimatePlan', () => {
  it('estimates 10 GB of 500-byte items on a 6-shard provisioned stream', () => {
    // By hand:
    // segments: autoSegments = min(ceil(10e9 / 500e6) = 20, 6 MB/s) = 6.
    // record: ceil(400 + 32 + 1.3 × 500) = 1,082 bytes; 1 PUT payload unit (25 KB) each.
    // rate: stream 6 × 1,048,576 / 1,082 = 5,814.65 items/s (records 6,000, chains 6 × 4,000 = 24,000).
    // duration: 20,000,000 × 1,082 / 6,291,456 = 3,439.59 s.
    // Lambda: ceil(3,439.59 / 885) = 4 invocations per chain → 24, 18 hand-offs; watchdog
    //   ceil(3,439.59 / 300) = 12; + 1 start = 37. GB-s: 6 × 3,439.59 + 13 × 1 s = 20,650.51.
    // read units: 1,666,666,666.7 bytes per segment = 1,589 full pages (× 256 units) + 479,402.7
    //   bytes (118 units) = 406,902 units; × 6 segments × 0.5 = 1,220,706.
    // SSM: per segment ceil(3,439.59 / 10) = 344 cadence + 3 hand-offs + 2 × 4 invocations (claim,
    // first page) + 1 DONE = 356; × 6 = 2,136.
    // cost: 37 × $0.2/M = $0.0000074; 20,650.51 × $0.0000133334 = $0.275342;
    //   1,220,706 × $0.125/M = $0.152588; 6 × 3,439.59 / 3600 = 5.7326 shard-hours × $0.015 = $0.085990;
    //   20,000,000 × $0.014/M = $0.28. Total $0.793926.
    const plan = estimatePlan(
      input({
        tableBytes: 10_000_000_000,
        itemCount: 20_000_000,
        stream: { mode: 'PROVISIONED', openShards: 6 },
      }),
    );

    expect(plan.segments).toMatchObject({ used: 6, recommended: 6 });
    expect(plan.segments.reason).toBe(
      "capped at 6, one per MB/s of the stream's write capacity; the table's size alone would take 20, one per 500 MB",
    );
    expect(plan.record).toEqual({ bytes: 1082, estimated: true });
    expect(plan.throughput.boundBy).toBe('stream-bytes');
    expect(plan.throughput.itemsPerSecond).toBeCloseTo(5814.65, 2);
    expect(plan.throughput.limits).toMatchObject({
      'stream-records': 6000,
      chains: 24_000,
      'table-read-capacity': null,
    });
    expect(plan.durationSeconds).toBeCloseTo(3439.59, 2);
    expect(plan.lambda).toMatchObject({
      invocations: 37,
      chainInvocations: 24,
      handoffs: 18,
      watchdogRuns: 12,
    });
    expect(plan.lambda.gbSeconds).toBeCloseTo(20_650.51, 2);
    expect(plan.dynamodb.readUnits).toBe(1_220_706);
    expect(plan.kinesis.putPayloadUnits).toBe(20_000_000);
    // SSM: 6 chains × (2 early checkpoints, 3 and 6 s apart, + floor(3,439.59 / 10) = 343 turns
    // + 4 invocations) = 2,094, and start and completion 2 + 3 + 1 deletes = 2,100.
    expect(plan.ssm.checkpointWrites).toBe(2100);
    expect(plan.ssm.callsPerStatus).toBe(2);
    expect(cost(plan, 'Lambda requests')).toBeCloseTo(0.0000074, 9);
    expect(cost(plan, 'Lambda duration (arm64)')).toBeCloseTo(0.275342, 6);
    expect(cost(plan, 'DynamoDB read request units')).toBeCloseTo(0.152588, 6);
    expect(cost(plan, 'Kinesis shards')).toBeCloseTo(0.08599, 5);
    expect(cost(plan, 'Kinesis PUT payload units')).toBeCloseTo(0.28, 9);
    expect(cost(plan, 'SSM checkpoint writes')).toBe(0);
    expect(plan.cost.totalUsd).toBeCloseTo(0.793926, 5);
    expect(plan.warnings).toEqual([]);
  });

  it('estimates 1 GB on an on-demand stream with 8 segments and consistent reads', () => {
    // By hand:
    // recommended: min(ceil(1e9 / 500e6) = 2, max(4, 4) MB/s) = 2; 8 are used.
    // record: ceil(432 + 1.3 × 1,000) = 1,732 bytes; on-demand data in rounds it to 2 KB.
    // rate: 4 × 1,048,576 / 1,732 = 2,421.65 items/s (records 4,000; chains 32,000).
    // duration: 1,000,000 × 1,732 / 4,194,304 = 412.94 s.
    // Lambda: 1 invocation per chain → 8, no hand-offs; watchdog ceil(412.94 / 300) = 2; + start = 11.
    // read units: 125,000,000 bytes per segment = 119 full pages (30,464 units) + 219,456 bytes
    //   (54 units) = 30,518; × 8 × 1 (consistent) = 244,144.
    // data in: 1,000,000 × 2,048 bytes = 1.9073 GiB × $0.08 = $0.152588; 412.94 / 3600 =
    //   0.114706 stream-hours × $0.04 = $0.004588.
    const plan = estimatePlan(
      input({ tableBytes: 1_000_000_000, itemCount: 1_000_000, segments: 8, consistentRead: true }),
    );

    expect(plan.segments).toMatchObject({ used: 8, recommended: 2 });
    expect(plan.record.bytes).toBe(1732);
    expect(plan.throughput.itemsPerSecond).toBeCloseTo(2421.65, 2);
    expect(plan.durationSeconds).toBeCloseTo(412.94, 2);
    expect(plan.lambda).toMatchObject({ invocations: 11, chainInvocations: 8, handoffs: 0, watchdogRuns: 2 });
    expect(plan.dynamodb.readUnits).toBe(244_144);
    expect(plan.kinesis.dataInGib).toBeCloseTo(1.9073, 4);
    expect(cost(plan, 'Kinesis on-demand data in')).toBeCloseTo(0.152588, 6);
    expect(cost(plan, 'Kinesis on-demand stream')).toBeCloseTo(0.004588, 6);
    expect(cost(plan, 'Kinesis PUT payload units')).toBeUndefined();
    expect(plan.warnings).toEqual([
      '8 segments can write 32,000 items/s, more than the stream takes (2,421.7 items/s): the extra chains add throttling, not speed.',
    ]);
  });

  it("is bound by a provisioned table's read capacity", () => {
    // By hand: 100 RCU read 100 × 4,096 / 0.5 = 819,200 bytes/s of items = 819.2 items/s of 1,000 bytes.
    // duration 1,000,000 / 819.2 = 1,220.70 s; 2 segments (auto), 2 invocations each (1 hand-off),
    // watchdog ceil(1,220.70 / 300) = 5 → 2 × 2 + 1 + 5 = 10 invocations.
    // read units: 500,000,000 bytes per segment = 476 full pages (121,856) + 877,824 bytes (215)
    // = 122,071; × 2 × 0.5 = 122,071 units = 33.9086 RCU-hours × $0.00013 = $0.004408.
    const plan = estimatePlan(
      input({
        tableBytes: 1_000_000_000,
        itemCount: 1_000_000,
        tableBilling: 'PROVISIONED',
        tableReadCapacity: 100,
        stream: { mode: 'PROVISIONED', openShards: 4 },
      }),
    );

    expect(plan.throughput.boundBy).toBe('table-read-capacity');
    expect(plan.throughput.itemsPerSecond).toBeCloseTo(819.2, 6);
    expect(plan.durationSeconds).toBeCloseTo(1220.7, 1);
    expect(plan.lambda).toMatchObject({ invocations: 10, handoffs: 2 });
    expect(plan.dynamodb.readUnits).toBe(122_071);
    expect(cost(plan, 'DynamoDB read capacity used')).toBeCloseTo(0.004408, 6);
    expect(cost(plan, 'DynamoDB read request units')).toBeUndefined();
  });

  it('recommends what the scanner picks for "auto"', () => {
    for (const [sizeBytes, mode, openShards] of [
      [100_000_000, 'ON_DEMAND', 4],
      [10_000_000_000, 'PROVISIONED', 6],
      [100_000_000_000, 'ON_DEMAND', 12],
      [10_000_000_000_000, 'PROVISIONED', 5000],
    ] as const) {
      const plan = estimatePlan(
        input({ tableBytes: sizeBytes, itemCount: 1000, stream: { mode, openShards } }),
      );
      expect(plan.segments.recommended).toBe(autoSegments({ sizeBytes }, { mode, openShards }));
      expect(plan.segments.used).toBe(plan.segments.recommended);
    }
  });

  it('gives a plan with a warning for a table that reports 0 items', () => {
    const plan = estimatePlan(input({}));

    expect(plan.durationSeconds).toBe(0);
    expect(plan.segments).toMatchObject({
      used: 1,
      recommended: 1,
      reason: 'at least 1: the table reports 0 bytes',
    });
    // One chain invocation that finds the end at once, and the start call; an empty Scan still costs half a unit.
    expect(plan.lambda.invocations).toBe(2);
    expect(plan.dynamodb.readUnits).toBe(0.5);
    expect(plan.warnings[0]).toMatch(
      /^The table reports 0 items: DynamoDB updates ItemCount and TableSizeBytes about every six hours .* Pass --items and --table-bytes/,
    );
  });

  it('warns when the chains are the limit and when checkpoints outrun SSM', () => {
    const slow = estimatePlan(
      input({
        tableBytes: 50e9,
        itemCount: 100e6,
        segments: 1,
        stream: { mode: 'PROVISIONED', openShards: 32 },
      }),
    );
    expect(slow.throughput).toMatchObject({ boundBy: 'chains', itemsPerSecond: CHAIN_ITEMS_PER_SECOND });
    expect(slow.warnings).toContainEqual(
      expect.stringMatching(
        /^The chains are the limit: more chains \(segments and concurrency\) would be faster/,
      ),
    );

    const wide = estimatePlan(
      input({
        tableBytes: 50e9,
        itemCount: 100e6,
        segments: 40,
        stream: { mode: 'PROVISIONED', openShards: 40 },
      }),
    );
    // 40 segments share 2 writes/s: each checkpoints every 20 s instead of 10.
    expect(wide.ssm.writesPerSecond).toBe(2);
    expect(wide.ssm.intervalSeconds).toBe(20);
    expect(wide.warnings).toContainEqual(
      expect.stringMatching(/^40 chains share the scanner's 2 SSM writes\/s .* every 20 s/),
    );
  });

  it('runs many segments on the default 100 chains', () => {
    const plan = estimatePlan(
      input({
        tableBytes: 1e12,
        itemCount: 2e9,
        segments: 10_000,
        stream: { mode: 'PROVISIONED', openShards: 600 },
      }),
    );
    expect(plan.segments).toMatchObject({ used: 10_000, chains: 100 });
    expect(plan.lambda.peakConcurrency).toBe(200);
    expect(plan.ssm.callsPerStatus).toBe(11);
  });

  it('warns when the chains need more concurrency than Lambda gives an account by default', () => {
    const plan = estimatePlan(
      input({
        tableBytes: 1e12,
        itemCount: 2e9,
        concurrency: 600,
        segments: 600,
        stream: { mode: 'PROVISIONED', openShards: 600 },
      }),
    );

    expect(plan.lambda.peakConcurrency).toBe(1200);
    expect(plan.warnings).toContainEqual(
      expect.stringMatching(
        /^600 chains need up to 1,200 concurrent executions .* above Lambda's default 1,000/,
      ),
    );
  });

  it('uses a given record size instead of the estimate', () => {
    const plan = estimatePlan(
      input({
        tableBytes: 1e9,
        itemCount: 1e6,
        recordBytes: 30_000,
        stream: { mode: 'PROVISIONED', openShards: 2 },
      }),
    );
    expect(plan.record).toEqual({ bytes: 30_000, estimated: false });
    expect(plan.kinesis.putPayloadUnits).toBe(2_000_000); // 30,000 bytes = 2 units of 25 KB
    expect(plan.throughput.itemsPerSecond).toBeCloseTo((2 * MIB) / 30_000, 6);
  });

  it('states its prices with their date and sources', () => {
    const assumptions = planAssumptions(
      estimatePlan(input({ tableBytes: 1e9, itemCount: 1e6 })),
      US_EAST_1_PRICES,
    );
    const prices = assumptions.find((a) => a.startsWith('Prices:'));
    expect(prices).toContain('us-east-1 list prices checked 2026-11-21');
    expect(prices).toContain('$0.0000133334 per GB-s');
    expect(prices).toContain('https://aws.amazon.com/kinesis/data-streams/pricing/');
  });
});

describe('ddbscan plan flags', () => {
  const flagsAlone = { tableBytes: '10GB', items: '20000000', shards: '6' };

  it.each([
    [
      { ...flagsAlone, items: 'abc' },
      'Invalid --items: expected a whole number of at least 0, received "abc".',
    ],
    [
      { ...flagsAlone, items: '-1' },
      'Invalid --items: expected a whole number of at least 0, received "-1".',
    ],
    [
      { ...flagsAlone, tableBytes: '10XB' },
      'Invalid --table-bytes: expected a whole number of bytes, or a size with a unit such as 500MB, 10GB, 2TB or 1.5GiB, received "10XB".',
    ],
    [
      { ...flagsAlone, tableBytes: '1.5' },
      'Invalid --table-bytes: expected a whole number of bytes, or a size with a unit such as 500MB, 10GB, 2TB or 1.5GiB, received "1.5".',
    ],
    [
      { ...flagsAlone, shards: '0' },
      'Invalid --shards: expected a whole number of at least 1, received "0".',
    ],
    [
      { ...flagsAlone, segments: '1000001' },
      'Invalid --segments: expected a whole number from 1 to 1000000, or "auto", received "1000001".',
    ],
    [
      { ...flagsAlone, segments: 'many' },
      'Invalid --segments: expected a whole number from 1 to 1000000, or "auto", received "many".',
    ],
    [
      { ...flagsAlone, timeout: '30' },
      'Invalid --timeout: expected a whole number from 60 to 900, received "30".',
    ],
    [
      { ...flagsAlone, handoff: '500' },
      'Invalid --handoff: expected a whole number from 5 to 450, received "500".',
    ],
    [
      { ...flagsAlone, timeout: '60', handoff: '31' },
      'Invalid --handoff: expected a whole number from 5 to 30, received "31".',
    ],
    [
      { ...flagsAlone, memory: '64' },
      'Invalid --memory: expected a whole number from 128 to 10,240, received "64".',
    ],
    [
      { ...flagsAlone, recordBytes: '2000000' },
      'Invalid --record-bytes: expected a whole number from 1 to 1,048,576, received "2000000".',
    ],
    [
      { ...flagsAlone, recordBytes: '10 GB per item' },
      'Invalid --record-bytes: expected a whole number from 1 to 1,048,576, received "10 GB per item".',
    ],
    [
      { ...flagsAlone, tableBytes: '10 GB per item' },
      'Invalid --table-bytes: expected a whole number of bytes, or a size with a unit such as 500MB, 10GB, 2TB or 1.5GiB, received "10 GB per item".',
    ],
    [
      { ...flagsAlone, tableBilling: 'free' },
      'Invalid --table-billing: expected "on-demand" or "provisioned", received "free".',
    ],
    [
      { ...flagsAlone, readCapacity: '0' },
      'Invalid --read-capacity: expected a whole number of at least 1, received "0".',
    ],
    [
      { ...flagsAlone, readCapacity: '10', tableBilling: 'on-demand' },
      '--read-capacity is for a provisioned table: drop it or --table-billing on-demand (an on-demand table has no read capacity).',
    ],
    [{ ...flagsAlone, table: ' ' }, 'Invalid --table: expected the table\'s name, received "".'],
    [
      { items: '5', shards: '2' },
      'Name the table with --table <name>, or give its size with --table-bytes <bytes> and --items <n> (e.g. --table-bytes 10GB --items 20000000).',
    ],
    [
      { table: 'Orders' },
      'Name the stream with --stream <name>, or give its capacity with --shards <n> (provisioned) or --on-demand.',
    ],
  ] as [PlanCommandOptions, string][])('rejects %j with exit code 2', (options, message) => {
    const error = catchError(() => parsePlanFlags(options));
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ message, exitCode: ExitCode.invalidInput });
  });

  it.each([
    ['12345', 12_345],
    ['500MB', 500_000_000],
    ['10GB', 10_000_000_000],
    ['2tb', 2_000_000_000_000],
    ['1.5GiB', 1_610_612_736],
    ['0', 0],
  ])('reads --table-bytes %s as %d bytes', (text, bytes) => {
    expect(parsePlanFlags({ ...flagsAlone, tableBytes: text }).tableBytes).toBe(bytes);
  });

  it('takes the defaults and marks a table with read capacity as provisioned', () => {
    expect(parsePlanFlags({ ...flagsAlone, readCapacity: '500' })).toEqual({
      table: undefined,
      stream: undefined,
      tableBytes: 10_000_000_000,
      items: 20_000_000,
      onDemand: false,
      shards: 6,
      segments: 'auto',
      concurrency: 100,
      consistentRead: false,
      recordBytes: null,
      tableBilling: 'PROVISIONED',
      readCapacity: 500,
      timeoutSeconds: 900,
      handoffSeconds: 15,
      memoryMb: 1024,
    });
  });
});

describe('ddbscan plan', () => {
  const orders: TableFacts = {
    sizeBytes: 10_000_000_000,
    itemCount: 20_000_000,
    billing: 'PAY_PER_REQUEST',
    readCapacity: null,
  };

  function fakeSource(table: TableFacts = orders): CapacitySource & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      async describeTable(name) {
        calls.push(`table ${name}`);
        return table;
      },
      async describeStream(name) {
        calls.push(`stream ${name}`);
        return { mode: 'PROVISIONED', openShards: 6 };
      },
    };
  }

  it('describes the table and the stream and prints the plan as JSON', async () => {
    const source = fakeSource();
    const io = captureIo();

    const code = await runPlanCommand({ table: 'Orders', stream: 'backfill', json: true }, source, io, {
      AWS_REGION: 'us-east-1',
    });

    expect(code).toBe(ExitCode.ok);
    expect(source.calls).toEqual(['table Orders', 'stream backfill']);
    const output = JSON.parse(io.stdout.join('\n'));
    expect(output).toMatchObject({
      table: { items: 20_000_000, bytes: 10_000_000_000, billing: 'PAY_PER_REQUEST' },
      stream: { mode: 'PROVISIONED', openShards: 6 },
      segments: { used: 6, recommended: 6 },
      dynamodb: { readUnits: 1_220_706 },
      warnings: [],
      prices: { region: 'us-east-1', checked: '2026-11-21' },
    });
    expect(output.assumptions.length).toBeGreaterThan(5);
  });

  it('lets flags override what was described and needs no AWS call without names', async () => {
    const described = fakeSource();
    const io = captureIo();
    await runPlanCommand(
      { table: 'Orders', stream: 'backfill', items: '1000000', onDemand: true, json: true },
      described,
      io,
      {},
    );
    expect(JSON.parse(io.stdout.join(''))).toMatchObject({
      table: { items: 1_000_000, bytes: 10_000_000_000 },
      stream: { mode: 'ON_DEMAND', openShards: 4 },
    });

    const none = fakeSource();
    await runPlanCommand({ tableBytes: '1GB', items: '1000', shards: '2' }, none, captureIo(), {});
    expect(none.calls).toEqual([]);
  });

  it('prints a table of figures, the cost, notes and assumptions', async () => {
    const io = captureIo();
    await runPlanCommand({ table: 'Orders', shards: '6' }, fakeSource(), io, { AWS_REGION: 'eu-west-1' });
    const text = io.stdout.join('\n');

    expect(text).toContain('  duration  57m20s');
    expect(text).toContain("  rate      5,815 items/s, bound by the stream's MiB/s");
    expect(text).toMatch(
      / {2}Kinesis PUT payload units {5}20,000,000 units +\$0\.014 per million units +\$0\.2800/,
    );
    expect(text).toMatch(/ {2}total +\$0\.7939/);
    expect(text).toContain("notes:\n  - Prices are us-east-1 list prices; eu-west-1's differ.");
    expect(text).toContain('assumptions:\n  - Segments are equal in size');
  });

  it('says so when the table reports 0 items', async () => {
    const io = captureIo();
    await runPlanCommand(
      { table: 'Orders', shards: '2' },
      fakeSource({ sizeBytes: 0, itemCount: 0, billing: 'PAY_PER_REQUEST', readCapacity: null }),
      io,
      {},
    );
    expect(io.stdout.join('\n')).toContain(
      '  - The table reports 0 items: DynamoDB updates ItemCount and TableSizeBytes',
    );
  });
});

describe('awsCapacitySource', () => {
  const dynamodb = mockClient(DynamoDBClient);
  const kinesis = mockClient(KinesisClient);
  beforeEach(() => {
    dynamodb.reset();
    kinesis.reset();
  });

  it('reads size, item count, billing mode and read capacity', async () => {
    dynamodb.on(DescribeTableCommand).resolves({
      Table: {
        TableSizeBytes: 5000,
        ItemCount: 10,
        ProvisionedThroughput: { ReadCapacityUnits: 25, WriteCapacityUnits: 5 },
      },
    });
    expect(await awsCapacitySource('us-east-1').describeTable('Orders')).toEqual({
      sizeBytes: 5000,
      itemCount: 10,
      billing: 'PROVISIONED',
      readCapacity: 25,
    });

    dynamodb.on(DescribeTableCommand).resolves({
      Table: { TableSizeBytes: 1, ItemCount: 1, BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' } },
    });
    expect(await awsCapacitySource('us-east-1').describeTable('Orders')).toMatchObject({
      billing: 'PAY_PER_REQUEST',
      readCapacity: null,
    });
  });

  it("reads the stream's mode and open shards", async () => {
    kinesis.on(DescribeStreamSummaryCommand).resolves({
      StreamDescriptionSummary: {
        StreamModeDetails: { StreamMode: 'ON_DEMAND' },
        OpenShardCount: 8,
      } as never,
    });
    expect(await awsCapacitySource('us-east-1').describeStream('s')).toEqual({
      mode: 'ON_DEMAND',
      openShards: 8,
    });
  });

  it('reports a missing table with exit code 3', async () => {
    dynamodb
      .on(DescribeTableCommand)
      .rejects(new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} }));
    const error = await awsCapacitySource('us-east-1')
      .describeTable('Nope')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      message: 'table Nope was not found (check the name and the region)',
      exitCode: ExitCode.unreachable,
    });
  });
});

function catchError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function captureIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    progress: new PassThrough(),
    color: false,
    interrupts: () => ({ signal: new AbortController().signal, dispose: () => {} }),
  };
}
