import { MAX_CONCURRENCY, MAX_SEGMENTS, ScannerDefaults } from '../../lambda/contract';
import { PEERS_PER_READ, type StreamDescription } from '../../lambda/core/ports';
import { autoSegments } from '../../lambda/core/scan-control';
import { ChainPolicy } from '../../lambda/core/segment-runner';
import { count } from './format-status';

/**
 * Capacity planning for `ddbscan plan`: pure arithmetic over the table's size, the stream's
 * capacity and a price table. No AWS calls; `plan.ts` gathers the inputs.
 */

/** A table's billing mode, as DescribeTable's BillingModeSummary names it. */
export type TableBilling = 'PAY_PER_REQUEST' | 'PROVISIONED';

/**
 * List prices in USD. One region's prices; the figures are per unit (a request, a GB-second,
 * a read request unit), so a line's cost is quantity × price.
 */
export interface PriceTable {
  readonly region: string;
  /** When the prices were read, and where. */
  readonly checked: string;
  readonly sources: readonly string[];
  /** Lambda, arm64, first 7.5 billion GB-seconds of a month. */
  readonly lambdaArmGbSecond: number;
  readonly lambdaRequest: number;
  /** DynamoDB on-demand (Standard table class): one read request unit. */
  readonly dynamodbReadRequestUnit: number;
  /** DynamoDB provisioned (Standard table class): one read capacity unit for an hour. */
  readonly dynamodbReadCapacityUnitHour: number;
  /** Kinesis provisioned: one shard for an hour, and one 25 KB PUT payload unit. */
  readonly kinesisShardHour: number;
  readonly kinesisPutPayloadUnit: number;
  /** Kinesis on-demand (Standard): one stream for an hour, and one GiB written (records rounded up to 1 KB). */
  readonly kinesisOnDemandStreamHour: number;
  readonly kinesisOnDemandGibIn: number;
  /** SSM Parameter Store API calls at the default (standard) throughput: no charge. */
  readonly ssmStandardThroughputCall: number;
  /** SSM with higher throughput enabled: per API interaction (not used in the total). */
  readonly ssmHigherThroughputCall: number;
}

/**
 * us-east-1 list prices as of 2026-11-21, from the AWS pricing pages below as quoted by
 * third-party summaries (the stored copies of the pages did not show the figures). Two could
 * not be confirmed that way and are the last known list prices: the on-demand stream-hour
 * ($0.04) and the provisioned read capacity unit-hour ($0.00013). Free tiers, savings plans and
 * Kinesis On-Demand Advantage are not applied.
 */
export const US_EAST_1_PRICES: PriceTable = {
  region: 'us-east-1',
  checked: '2026-11-21',
  sources: [
    'https://aws.amazon.com/lambda/pricing/',
    'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    'https://aws.amazon.com/dynamodb/pricing/provisioned/',
    'https://aws.amazon.com/kinesis/data-streams/pricing/',
    'https://aws.amazon.com/systems-manager/pricing/',
  ],
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  dynamodbReadRequestUnit: 0.125 / 1e6,
  dynamodbReadCapacityUnitHour: 0.00013,
  kinesisShardHour: 0.015,
  kinesisPutPayloadUnit: 0.014 / 1e6,
  kinesisOnDemandStreamHour: 0.04,
  kinesisOnDemandGibIn: 0.08,
  ssmStandardThroughputCall: 0,
  ssmHigherThroughputCall: 0.05 / 10_000,
};

/**
 * One chain's rate when nothing else limits it, kept conservative. The benchmark (README,
 * Performance) measures 7,000 to 12,000 items/s for one segment of 400-byte items with 40 ms per
 * call, where the local Kinesis emulator's CPU is the limit; nothing has measured a chain in AWS
 * yet, and chains of large items are probably slower.
 */
export const CHAIN_ITEMS_PER_SECOND = 4_000;

/** Kinesis: a shard takes 1 MiB/s and 1,000 records/s of writes. */
const SHARD_BYTES_PER_SECOND = 1024 * 1024;
const SHARD_RECORDS_PER_SECOND = 1_000;
/** A new on-demand stream starts with the write capacity of 4 shards: 4 MiB/s, 4,000 records/s. */
export const ON_DEMAND_STARTING_SHARDS = 4;
/** DynamoDB Scan: a page stops after 1 MB (a 1 MiB page is read as exactly 256 units of 4 KB). */
const SCAN_PAGE_BYTES = 1024 * 1024;
/** DynamoDB: a read unit covers 4 KB of the page's total item size, rounded up per request. */
const READ_UNIT_BYTES = 4 * 1024;
/** Kinesis provisioned: a record is billed in PUT payload units of 25 KB. */
const PUT_PAYLOAD_UNIT_BYTES = 25 * 1024;
/** Kinesis on-demand: data in is each record rounded up to 1 KB. */
const ON_DEMAND_RECORD_ROUNDING_BYTES = 1024;
const GIB = 1024 ** 3;
/**
 * The default record (lambda/core/record-format.ts) around an item: the envelope measures 367
 * bytes with an empty table name and key; about 33 more for a table name and the key repeated
 * in `Keys`.
 */
const RECORD_ENVELOPE_BYTES = 400;
/** The partition key: an MD5 in hex; Kinesis counts it in the record's size. */
const PARTITION_KEY_BYTES = 32;
/**
 * Typed JSON of an item over its DynamoDB size: measured 1.05 for an item of one long string,
 * 1.33 for binary (base64), 1.7-1.8 for items of many small attributes (each adds `{"S":…}`).
 */
const TYPED_JSON_FACTOR = 1.3;
/** The watchdog schedule's default interval. */
const WATCHDOG_INTERVAL_SECONDS = 300;
/** Billed time of a start call or a watchdog run: a few SSM reads and writes. */
const CONTROL_CALL_SECONDS = 1;
/** Lambda: concurrent executions per account and region, by default. */
const ACCOUNT_CONCURRENCY = 1000;
/** SSM PutParameter: about 3 calls per second per account at the default throughput. */
const SSM_PUTS_PER_SECOND = 3;
/** Start writes its claim and the scan; completion its claim, its published mark and the summary. */
const START_WRITES = 2;
const COMPLETION_WRITES = 3;
/** Start reads the scan, lists the claims and the leftovers of the scan before. */
const START_READS = 3;

/** What the plan is computed from. */
export interface PlanInput {
  readonly tableBytes: number;
  readonly itemCount: number;
  readonly tableBilling: TableBilling;
  /** The table's provisioned read capacity units, when known (provisioned tables only). */
  readonly tableReadCapacity: number | null;
  /** The stream: on-demand streams count as at least 4 shards, their starting capacity. */
  readonly stream: StreamDescription;
  readonly segments: number | 'auto';
  /** Chains at once: the scan runs min(segments, concurrency) chains. */
  readonly concurrency: number;
  readonly consistentRead: boolean;
  /** Bytes of a record with its partition key; null estimates it from the average item size. */
  readonly recordBytes: number | null;
  readonly timeoutSeconds: number;
  readonly handoffSeconds: number;
  readonly memoryMb: number;
  readonly checkpointIntervalSeconds: number;
  readonly prices: PriceTable;
}

/** The scanner's defaults: a 900 s timeout, hand-off with 15 s left, 1024 MB, checkpoints every 10 s. */
export const PLAN_DEFAULTS = {
  segments: 'auto',
  concurrency: ScannerDefaults.concurrency,
  consistentRead: false,
  timeoutSeconds: 900,
  handoffSeconds: ScannerDefaults.handoffMs / 1000,
  memoryMb: 1024,
  checkpointIntervalSeconds: ScannerDefaults.checkpointIntervalMs / 1000,
} as const;

export type ThroughputBound = 'stream-bytes' | 'stream-records' | 'chains' | 'table-read-capacity';

export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  /** USD per unit. */
  readonly unitPrice: number;
  readonly usd: number;
}

export interface Plan {
  readonly table: {
    readonly bytes: number;
    readonly items: number;
    readonly averageItemBytes: number;
    readonly billing: TableBilling;
    readonly readCapacity: number | null;
  };
  readonly record: { readonly bytes: number; readonly estimated: boolean };
  readonly stream: {
    readonly mode: StreamDescription['mode'];
    readonly openShards: number;
    /** Shards' worth of write capacity used in the estimate. */
    readonly capacityShards: number;
    readonly bytesPerSecond: number;
    readonly recordsPerSecond: number;
  };
  readonly segments: {
    readonly used: number;
    readonly recommended: number;
    readonly reason: string;
    /** Chains that scan them, at most `concurrency` at once. */
    readonly chains: number;
  };
  readonly throughput: {
    readonly itemsPerSecond: number;
    readonly boundBy: ThroughputBound;
    /** Items per second each limit allows; null where it does not apply. */
    readonly limits: Readonly<Record<ThroughputBound, number | null>>;
  };
  readonly durationSeconds: number;
  readonly lambda: {
    readonly invocations: number;
    readonly chainInvocations: number;
    readonly startInvocations: number;
    readonly watchdogRuns: number;
    readonly handoffs: number;
    readonly gbSeconds: number;
    readonly memoryMb: number;
    /** Two invocations of a chain overlap briefly at each hand-off. */
    readonly peakConcurrency: number;
  };
  readonly dynamodb: { readonly pages: number; readonly readUnits: number; readonly consistentRead: boolean };
  readonly kinesis: {
    readonly records: number;
    readonly bytes: number;
    readonly putPayloadUnits: number;
    readonly dataInGib: number;
    readonly streamHours: number;
  };
  readonly ssm: {
    /** Every PutParameter and DeleteParameters call of the scan: the chains' and start's and completion's. */
    readonly checkpointWrites: number;
    readonly writesPerSecond: number;
    /** GetParameter(s) and GetParametersByPath calls of the chains, start and completion (status aside). */
    readonly reads: number;
    /** Calls of one `status`: the root and the chains, 10 a call. */
    readonly callsPerStatus: number;
    /** How often each chain checkpoints: the interval, stretched when many chains share the budget. */
    readonly intervalSeconds: number;
    /** Whether the shared budget stretched it beyond the configured interval. */
    readonly stretched: boolean;
  };
  readonly cost: { readonly lines: readonly CostLine[]; readonly totalUsd: number };
  readonly warnings: readonly string[];
}

/**
 * Estimates a scan: the segment count "auto" would pick (the scanner's own rule, `autoSegments`),
 * the rate (the lowest of the stream's write capacity, the chains' rate and a provisioned table's
 * read capacity), the duration, Lambda invocations and GB-seconds, read units, Kinesis payload
 * units, SSM checkpoint writes, and the cost of each at the given prices.
 *
 * @example
 * const plan = estimatePlan({
 *   ...PLAN_DEFAULTS, tableBytes: 10e9, itemCount: 20e6, tableBilling: 'PAY_PER_REQUEST',
 *   tableReadCapacity: null, stream: { mode: 'PROVISIONED', openShards: 6 }, recordBytes: null,
 *   prices: US_EAST_1_PRICES,
 * });
 * // plan.segments.recommended === 6, plan.throughput.boundBy === 'stream-bytes'
 */
export function estimatePlan(input: PlanInput): Plan {
  const { prices } = input;
  const items = input.itemCount;
  const averageItemBytes = items > 0 ? input.tableBytes / items : 0;
  const recordBytes =
    input.recordBytes ??
    Math.ceil(RECORD_ENVELOPE_BYTES + PARTITION_KEY_BYTES + TYPED_JSON_FACTOR * averageItemBytes);

  const capacityShards =
    input.stream.mode === 'ON_DEMAND'
      ? Math.max(ON_DEMAND_STARTING_SHARDS, input.stream.openShards)
      : input.stream.openShards;
  const streamBytesPerSecond = capacityShards * SHARD_BYTES_PER_SECOND;
  const streamRecordsPerSecond = capacityShards * SHARD_RECORDS_PER_SECOND;

  const recommended = autoSegments({ sizeBytes: input.tableBytes }, input.stream);
  const segments = input.segments === 'auto' ? recommended : input.segments;
  const chains = Math.min(segments, input.concurrency);

  // Eventually consistent reads cost half a unit per 4 KB; strongly consistent ones a whole unit.
  const unitsPer4Kb = input.consistentRead ? 1 : 0.5;
  const limits: Record<ThroughputBound, number | null> = {
    'stream-bytes': streamBytesPerSecond / recordBytes,
    'stream-records': streamRecordsPerSecond,
    chains: chains * CHAIN_ITEMS_PER_SECOND,
    'table-read-capacity':
      input.tableBilling === 'PROVISIONED' && input.tableReadCapacity !== null && averageItemBytes > 0
        ? (input.tableReadCapacity * READ_UNIT_BYTES) / (unitsPer4Kb * averageItemBytes)
        : null,
  };
  const [boundBy, itemsPerSecond] = lowest(limits);
  const durationSeconds = items > 0 ? items / itemsPerSecond : 0;
  const hours = durationSeconds / 3600;

  // Segments are assumed equal, so every chain runs for the whole duration. Each invocation
  // works until the hand-off margin is left, then a new one continues.
  const workPerInvocation = input.timeoutSeconds - input.handoffSeconds;
  const invocationsPerChain = Math.max(1, Math.ceil(durationSeconds / workPerInvocation));
  const chainInvocations = chains * invocationsPerChain;
  const handoffs = chains * (invocationsPerChain - 1);
  const watchdogRuns = Math.ceil(durationSeconds / WATCHDOG_INTERVAL_SECONDS);
  const startInvocations = 1;
  const invocations = chainInvocations + startInvocations + watchdogRuns;
  const memoryGb = input.memoryMb / 1024;
  const gbSeconds =
    memoryGb * (chains * durationSeconds + (startInvocations + watchdogRuns) * CONTROL_CALL_SECONDS);

  // Scan counts read units per page, on the page's total item size rounded up to 4 KB (not per
  // item). Full 1 MiB pages are exactly 256 units; each segment's last page (possibly empty)
  // costs at least one.
  const bytesPerSegment = input.tableBytes / segments;
  const fullPages = Math.floor(bytesPerSegment / SCAN_PAGE_BYTES);
  const lastPageUnits = Math.max(
    1,
    Math.ceil((bytesPerSegment - fullPages * SCAN_PAGE_BYTES) / READ_UNIT_BYTES),
  );
  const unitsPerSegment = fullPages * (SCAN_PAGE_BYTES / READ_UNIT_BYTES) + lastPageUnits;
  const readUnits = unitsPer4Kb * segments * unitsPerSegment;
  const pages = segments * (fullPages + 1);

  const putPayloadUnits = items * Math.ceil(recordBytes / PUT_PAYLOAD_UNIT_BYTES);
  const dataInGib =
    (items * Math.ceil(recordBytes / ON_DEMAND_RECORD_ROUNDING_BYTES) * ON_DEMAND_RECORD_ROUNDING_BYTES) /
    GIB;

  // One checkpoint per interval per chain (the chains share the scanner's write budget, so with
  // many the interval stretches); start writes its claim and the scan, completion its claim, its
  // published mark and the summary, and deletes the chains' parameters, 10 a call.
  const intervalSeconds = Math.max(
    input.checkpointIntervalSeconds,
    chains / ScannerDefaults.checkpointWritesPerSecond,
  );
  // A chain writes once per turn that passes while it works (its first is its claim), and every
  // invocation ends with one more (its hand-off, or the chain's DONE). At the scan's start it
  // writes sooner: after 1 s (or its turn), then twice the gap each time, up to the interval,
  // within its first invocation (an upper bound: those writes stand in for a first interval's).
  const firstInvocationSeconds = Math.min(durationSeconds, input.timeoutSeconds - input.handoffSeconds);
  let firstWrites = 0;
  for (
    let gap = Math.max(
        ChainPolicy.firstCheckpointGapMs / 1000,
        chains / ScannerDefaults.checkpointWritesPerSecond,
      ),
      at = gap;
    gap < intervalSeconds && at < firstInvocationSeconds;
    gap *= 2, at += gap
  ) {
    firstWrites++;
  }
  const chainWrites =
    chains * (firstWrites + Math.floor(durationSeconds / intervalSeconds) + invocationsPerChain);
  const controlWrites = START_WRITES + COMPLETION_WRITES + Math.ceil(chains / 10);
  const checkpointWrites = chainWrites + controlWrites;
  const writesPerSecond = chains / intervalSeconds;
  // A chain invocation reads the scan and its checkpoint when it starts and before each write
  // (one GetParameters call each); a chain that finishes checks the chains after it (about one
  // call), the last one all of them; start reads the scan and the claims. With up to 7 chains,
  // each also reads the others every chains / 2 s between its writes: 2 a second for the scan.
  const callsPerStatus = 1 + Math.ceil(chains / 10);
  const peerReads =
    chains > 1 && chains - 1 <= PEERS_PER_READ
      ? Math.floor((durationSeconds * 1000) / ChainPolicy.peerReadMsPerChain)
      : 0;
  const reads = chainInvocations + chainWrites + chains + Math.ceil(chains / 10) + START_READS + peerReads;

  const lines: CostLine[] = [
    line('Lambda requests', invocations, 'requests', prices.lambdaRequest),
    line('Lambda duration (arm64)', gbSeconds, 'GB-s', prices.lambdaArmGbSecond),
    input.tableBilling === 'PAY_PER_REQUEST'
      ? line('DynamoDB read request units', readUnits, 'RRU', prices.dynamodbReadRequestUnit)
      : line(
          'DynamoDB read capacity used',
          readUnits / 3600,
          'RCU-hours',
          prices.dynamodbReadCapacityUnitHour,
        ),
    ...(input.stream.mode === 'ON_DEMAND'
      ? [
          line('Kinesis on-demand stream', hours, 'stream-hours', prices.kinesisOnDemandStreamHour),
          line('Kinesis on-demand data in', dataInGib, 'GiB', prices.kinesisOnDemandGibIn),
        ]
      : [
          line('Kinesis shards', capacityShards * hours, 'shard-hours', prices.kinesisShardHour),
          line('Kinesis PUT payload units', putPayloadUnits, 'units', prices.kinesisPutPayloadUnit),
        ]),
    line('SSM checkpoint writes', checkpointWrites, 'PutParameter', prices.ssmStandardThroughputCall),
  ];

  const plan: Omit<Plan, 'warnings'> = {
    table: {
      bytes: input.tableBytes,
      items,
      averageItemBytes,
      billing: input.tableBilling,
      readCapacity: input.tableReadCapacity,
    },
    record: { bytes: recordBytes, estimated: input.recordBytes === null },
    stream: {
      mode: input.stream.mode,
      openShards: input.stream.openShards,
      capacityShards,
      bytesPerSecond: streamBytesPerSecond,
      recordsPerSecond: streamRecordsPerSecond,
    },
    segments: { used: segments, recommended, reason: recommendationReason(input, recommended), chains },
    throughput: { itemsPerSecond, boundBy, limits },
    durationSeconds,
    lambda: {
      invocations,
      chainInvocations,
      startInvocations,
      watchdogRuns,
      handoffs,
      gbSeconds,
      memoryMb: input.memoryMb,
      peakConcurrency: 2 * chains,
    },
    dynamodb: { pages, readUnits, consistentRead: input.consistentRead },
    kinesis: {
      records: items,
      bytes: items * recordBytes,
      putPayloadUnits,
      dataInGib,
      streamHours: hours,
    },
    ssm: {
      checkpointWrites,
      writesPerSecond,
      reads,
      callsPerStatus,
      intervalSeconds,
      stretched: intervalSeconds > input.checkpointIntervalSeconds,
    },
    cost: { lines, totalUsd: lines.reduce((sum, l) => sum + l.usd, 0) },
  };
  return { ...plan, warnings: planWarnings(plan) };
}

/** The assumptions behind every figure, as printed by `ddbscan plan`. */
export function planAssumptions(plan: Plan, prices: PriceTable): string[] {
  const usd = (n: number) => `$${Number(n.toPrecision(6))}`;
  return [
    `Segments are equal in size and run for the whole scan; a real parallel scan's segments differ, so the last one finishes later.`,
    `Rate: the lowest of the stream's write capacity (a shard takes 1 MiB/s and 1,000 records/s; an on-demand stream counts as at least ${ON_DEMAND_STARTING_SHARDS} shards, its starting capacity, though it grows under a sustained load, so a long scan may go faster), ${count(CHAIN_ITEMS_PER_SECOND)} items/s per chain (conservative: the benchmark measures 7,000 or more with 400-byte items, bound by the local emulator), and a provisioned table's read capacity when known. An on-demand table is assumed not to limit the scan.`,
    plan.record.estimated
      ? `Record size: ${RECORD_ENVELOPE_BYTES} bytes of envelope + ${PARTITION_KEY_BYTES} of partition key + ${TYPED_JSON_FACTOR} × the average item size (typed JSON is larger than DynamoDB's size: about 1.05× for long strings, 1.33× for binary, 1.8× for many small attributes). Pass --record-bytes (bytesPut / recordsPut of an earlier scan) to use a measured size.`
      : `Record size: ${count(plan.record.bytes)} bytes, as given.`,
    `Read units: Scan counts each page's total item size in 4 KB units (0.5 per 4 KB eventually consistent, 1 strongly consistent), pages of 1 MB; a filter or projection does not reduce them.`,
    `Lambda: each invocation works until the hand-off margin is left, so a chain takes ceil(duration / (timeout − hand-off)) invocations; plus the start call and a watchdog run every ${WATCHDOG_INTERVAL_SECONDS / 60} minutes during the scan, each billed ${CONTROL_CALL_SECONDS} s. Memory ${plan.lambda.memoryMb} MB, arm64.`,
    `SSM: one write per chain per checkpoint interval (stretched so that all chains together write at most ${ScannerDefaults.checkpointWritesPerSecond} a second; an invocation's first write is its claim, its last the hand-off or the chain's DONE; a chain's first invocation writes after 1, 2, 4 and 8 s first, within its turns), at least one per invocation, and ${START_WRITES + COMPLETION_WRITES} plus one per 10 chains for start and completion; reads: one GetParameters per chain invocation and per write, about one per chain to detect completion, with up to ${PEERS_PER_READ + 1} chains 2 a second for the scan (each chain's look at the others), and ${plan.ssm.callsPerStatus} per status; free at the standard throughput (about ${SSM_PUTS_PER_SECOND} writes/s per account). With higher throughput enabled every API call costs ${usd(prices.ssmHigherThroughputCall * 10_000)} per 10,000 (not in the total).`,
    `Prices: ${prices.region} list prices checked ${prices.checked}: Lambda arm64 ${usd(prices.lambdaArmGbSecond)} per GB-s and ${usd(prices.lambdaRequest * 1e6)} per million requests; DynamoDB ${usd(prices.dynamodbReadRequestUnit * 1e6)} per million read request units (on-demand) or ${usd(prices.dynamodbReadCapacityUnitHour)} per RCU-hour (provisioned, the capacity the scan uses); Kinesis provisioned ${usd(prices.kinesisShardHour)} per shard-hour and ${usd(prices.kinesisPutPayloadUnit * 1e6)} per million 25 KB PUT payload units; Kinesis on-demand ${usd(prices.kinesisOnDemandStreamHour)} per stream-hour and ${usd(prices.kinesisOnDemandGibIn)} per GiB in (records rounded up to 1 KB). Not confirmed from a stored page: the on-demand stream-hour and the provisioned RCU-hour. Sources: ${prices.sources.join(', ')}.`,
    `Not counted: free tiers, the stream's hours outside the scan, consumers and data out, retention, CloudWatch logs and metrics, the completion event, the failed-invocations queue, data transfer (free within a region).`,
  ];
}

function recommendationReason(input: PlanInput, recommended: number): string {
  // The parts of the scanner's rule, from the rule itself: its size term alone (a stream too big
  // to cap it) and its stream cap alone (a table too big to limit it).
  const bySize = autoSegments(
    { sizeBytes: input.tableBytes },
    { mode: 'PROVISIONED', openShards: MAX_SEGMENTS },
  );
  const cap = autoSegments({ sizeBytes: Number.MAX_SAFE_INTEGER }, input.stream);
  if (recommended < bySize)
    return `capped at ${cap}, one per MB/s of the stream's write capacity; the table's size alone would take ${bySize}, one per 500 MB`;
  if (input.tableBytes === 0) return 'at least 1: the table reports 0 bytes';
  return `${bySize}, one per 500 MB of table; the stream would take up to ${cap}, one per MB/s of write capacity`;
}

function planWarnings(plan: Omit<Plan, 'warnings'>): string[] {
  const warnings: string[] = [];
  if (plan.table.items === 0) {
    warnings.push(
      'The table reports 0 items: DynamoDB updates ItemCount and TableSizeBytes about every six hours (the local dynalite never does). Pass --items and --table-bytes for a real estimate.',
    );
  } else if (plan.table.bytes === 0) {
    warnings.push(
      'The table reports 0 bytes: DynamoDB updates TableSizeBytes about every six hours. Pass --table-bytes for a real estimate.',
    );
  }
  const { limits, boundBy } = plan.throughput;
  const streamLimit = Math.min(limits['stream-bytes'] ?? Infinity, limits['stream-records'] ?? Infinity);
  if (plan.segments.used > plan.segments.recommended && (limits.chains ?? 0) > streamLimit) {
    warnings.push(
      `${plan.segments.used} segments can write ${count(limits.chains ?? 0)} items/s, more than the stream takes (${count(streamLimit)} items/s): the extra chains add throttling, not speed.`,
    );
  }
  if (boundBy === 'chains' && plan.segments.chains < MAX_CONCURRENCY) {
    warnings.push(
      `The chains are the limit: more chains (segments and concurrency) would be faster, up to the stream's ${count(streamLimit)} items/s.`,
    );
  }
  if (plan.lambda.peakConcurrency > ACCOUNT_CONCURRENCY) {
    warnings.push(
      `${plan.segments.chains} chains need up to ${count(plan.lambda.peakConcurrency)} concurrent executions (two per chain while it hands off), above Lambda's default ${count(ACCOUNT_CONCURRENCY)} per account and region: chains would be throttled. Use a lower --concurrency or ask for a higher quota.`,
    );
  }
  if (plan.ssm.stretched) {
    warnings.push(
      `${plan.segments.chains} chains share the scanner's ${ScannerDefaults.checkpointWritesPerSecond} SSM writes/s (SSM takes about ${SSM_PUTS_PER_SECOND} PutParameter/s per account), so each checkpoints every ${count(plan.ssm.intervalSeconds)} s: a crash repeats up to that much of a chain's work. With SSM's higher throughput turned on, raise the construct's checkpointWritesPerSecond.`,
    );
  }
  return warnings;
}

function lowest(limits: Record<ThroughputBound, number | null>): [ThroughputBound, number] {
  let best: [ThroughputBound, number] = ['stream-records', limits['stream-records'] ?? Infinity];
  for (const [bound, value] of Object.entries(limits) as [ThroughputBound, number | null][]) {
    if (value !== null && value < best[1]) best = [bound, value];
  }
  return best;
}

function line(item: string, quantity: number, unit: string, unitPrice: number): CostLine {
  return { item, quantity, unit, unitPrice, usd: quantity * unitPrice };
}
