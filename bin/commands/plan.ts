import { MAX_CONCURRENCY, MAX_SEGMENTS } from '../../lambda/contract';
import type { StreamDescription } from '../../lambda/core/ports';
import type { CapacitySource, TableFacts } from './capacity-source';
import { CliError, ExitCode } from './cli-error';
import { formatPlan } from './format-plan';
import type { Io } from './io';
import {
  estimatePlan,
  ON_DEMAND_STARTING_SHARDS,
  PLAN_DEFAULTS,
  type PlanInput,
  type PriceTable,
  planAssumptions,
  type TableBilling,
  US_EAST_1_PRICES,
} from './plan-estimate';

/** Options of `ddbscan plan`, as commander parsed them: text, validated here. */
export interface PlanCommandOptions {
  readonly table?: string;
  readonly stream?: string;
  readonly tableBytes?: string;
  readonly items?: string;
  readonly onDemand?: boolean;
  readonly shards?: string;
  readonly segments?: string;
  readonly concurrency?: string;
  readonly consistentRead?: boolean;
  readonly recordBytes?: string;
  readonly tableBilling?: string;
  readonly readCapacity?: string;
  readonly timeout?: string;
  readonly handoff?: string;
  readonly memory?: string;
  readonly region?: string;
  readonly json?: boolean;
}

/** The flags, validated. A flag given next to --table or --stream overrides what they describe. */
export interface PlanFlags {
  readonly table: string | undefined;
  readonly stream: string | undefined;
  readonly tableBytes: number | undefined;
  readonly items: number | undefined;
  readonly onDemand: boolean;
  readonly shards: number | undefined;
  readonly segments: number | 'auto';
  readonly concurrency: number;
  readonly consistentRead: boolean;
  readonly recordBytes: number | null;
  readonly tableBilling: TableBilling | undefined;
  readonly readCapacity: number | undefined;
  readonly timeoutSeconds: number;
  readonly handoffSeconds: number;
  readonly memoryMb: number;
}

/**
 * `ddbscan plan`: estimates a scan from the table's size and the stream's capacity (described
 * with --table and --stream, or given as flags) and prints the figures, the cost and the
 * assumptions. Every flag is checked before anything is described.
 *
 * @example
 * await runPlanCommand({ tableBytes: '10GB', items: '20000000', shards: '6' }, source, processIo);
 */
export async function runPlanCommand(
  options: PlanCommandOptions,
  source: CapacitySource,
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
  prices: PriceTable = US_EAST_1_PRICES,
): Promise<ExitCode> {
  const flags = parsePlanFlags(options);
  const input = await planInput(flags, source, prices);
  const plan = estimatePlan(input);
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const warnings = [...plan.warnings];
  if (region !== undefined && region !== prices.region) {
    warnings.push(`Prices are ${prices.region} list prices; ${region}'s differ.`);
  }
  const assumptions = planAssumptions(plan, prices);
  const names = { tableName: flags.table ?? null, streamName: flags.stream ?? null };
  if (options.json) io.out(JSON.stringify({ ...names, ...plan, warnings, assumptions, prices }));
  else for (const line of formatPlan({ ...plan, warnings }, names, assumptions)) io.out(line);
  return ExitCode.ok;
}

/** Validates every flag; a bad one is a CliError (exit code 2) naming it and what it takes. */
export function parsePlanFlags(options: PlanCommandOptions): PlanFlags {
  const table = name(options.table, '--table', 'table');
  const stream = name(options.stream, '--stream', 'stream');
  const tableBytes =
    options.tableBytes === undefined ? undefined : bytes(options.tableBytes, '--table-bytes');
  const items = options.items === undefined ? undefined : whole(options.items, '--items', 0);
  if (table === undefined && (tableBytes === undefined || items === undefined)) {
    throw invalid(
      'Name the table with --table <name>, or give its size with --table-bytes <bytes> and --items <n> (e.g. --table-bytes 10GB --items 20000000).',
    );
  }
  const shards = options.shards === undefined ? undefined : whole(options.shards, '--shards', 1);
  const onDemand = options.onDemand === true;
  if (stream === undefined && !onDemand && shards === undefined) {
    throw invalid(
      'Name the stream with --stream <name>, or give its capacity with --shards <n> (provisioned) or --on-demand.',
    );
  }
  const segments = segmentCount(options.segments);
  const tableBilling = billing(options.tableBilling);
  const readCapacity =
    options.readCapacity === undefined ? undefined : whole(options.readCapacity, '--read-capacity', 1);
  if (readCapacity !== undefined && tableBilling === 'PAY_PER_REQUEST') {
    throw invalid(
      '--read-capacity is for a provisioned table: drop it or --table-billing on-demand (an on-demand table has no read capacity).',
    );
  }
  const timeoutSeconds =
    options.timeout === undefined
      ? PLAN_DEFAULTS.timeoutSeconds
      : whole(options.timeout, '--timeout', 60, 900);
  // The construct allows a hand-off margin from 5 s to half the timeout; the default 15 s always fits.
  const handoffSeconds =
    options.handoff === undefined
      ? PLAN_DEFAULTS.handoffSeconds
      : whole(options.handoff, '--handoff', 5, Math.floor(timeoutSeconds / 2));
  return {
    table,
    stream,
    tableBytes,
    items,
    onDemand,
    shards,
    segments,
    concurrency:
      options.concurrency === undefined
        ? PLAN_DEFAULTS.concurrency
        : whole(options.concurrency, '--concurrency', 1, MAX_CONCURRENCY),
    consistentRead: options.consistentRead === true,
    recordBytes:
      options.recordBytes === undefined ? null : whole(options.recordBytes, '--record-bytes', 1, 1024 * 1024),
    tableBilling: readCapacity !== undefined ? 'PROVISIONED' : tableBilling,
    readCapacity,
    timeoutSeconds,
    handoffSeconds,
    memoryMb:
      options.memory === undefined ? PLAN_DEFAULTS.memoryMb : whole(options.memory, '--memory', 128, 10_240),
  };
}

/** Describes what was named and lays the flags over it. */
export async function planInput(
  flags: PlanFlags,
  source: CapacitySource,
  prices: PriceTable,
): Promise<PlanInput> {
  const [described, describedStream] = await Promise.all([
    flags.table === undefined ? undefined : source.describeTable(flags.table),
    flags.stream === undefined ? undefined : source.describeStream(flags.stream),
  ]);
  const table: TableFacts = {
    sizeBytes: flags.tableBytes ?? described?.sizeBytes ?? 0,
    itemCount: flags.items ?? described?.itemCount ?? 0,
    billing: flags.tableBilling ?? described?.billing ?? 'PAY_PER_REQUEST',
    readCapacity: flags.readCapacity ?? described?.readCapacity ?? null,
  };
  return {
    tableBytes: table.sizeBytes,
    itemCount: table.itemCount,
    tableBilling: table.billing,
    tableReadCapacity: table.billing === 'PROVISIONED' ? table.readCapacity : null,
    stream: streamOf(flags, describedStream),
    segments: flags.segments,
    concurrency: flags.concurrency,
    consistentRead: flags.consistentRead,
    recordBytes: flags.recordBytes,
    timeoutSeconds: flags.timeoutSeconds,
    handoffSeconds: flags.handoffSeconds,
    memoryMb: flags.memoryMb,
    checkpointIntervalSeconds: PLAN_DEFAULTS.checkpointIntervalSeconds,
    prices,
  };
}

/**
 * --on-demand and --shards override the described stream: --shards 8 is a provisioned stream of 8
 * shards, --on-demand --shards 8 an on-demand stream grown to 8 shards.
 */
function streamOf(flags: PlanFlags, described: StreamDescription | undefined): StreamDescription {
  if (flags.onDemand) {
    return {
      mode: 'ON_DEMAND',
      openShards:
        flags.shards ?? (described?.mode === 'ON_DEMAND' ? described.openShards : ON_DEMAND_STARTING_SHARDS),
    };
  }
  if (flags.shards !== undefined) return { mode: 'PROVISIONED', openShards: flags.shards };
  // parsePlanFlags requires --stream, --on-demand or --shards.
  return described ?? { mode: 'ON_DEMAND', openShards: ON_DEMAND_STARTING_SHARDS };
}

function name(text: string | undefined, flag: string, what: string): string | undefined {
  if (text === undefined) return undefined;
  if (text.trim() === '') throw invalid(`Invalid ${flag}: expected the ${what}'s name, received "".`);
  return text;
}

function whole(text: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `of at least ${count(min)}` : `from ${count(min)} to ${count(max)}`;
    throw invalid(`Invalid ${flag}: expected a whole number ${range}, received "${text}".`);
  }
  return value;
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Bytes, as a whole number or with a unit: 500MB, 10GB and 2TB are decimal (as TableSizeBytes), GiB binary. */
function bytes(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(text.trim());
  const unit = BYTE_UNITS[(match?.[2] ?? 'b').toLowerCase()];
  const value = match?.[1] === undefined || unit === undefined ? Number.NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(Math.round(value)) || (match?.[2] === undefined && !Number.isInteger(value))) {
    throw invalid(
      `Invalid ${flag}: expected a whole number of bytes, or a size with a unit such as 500MB, 10GB, 2TB or 1.5GiB, received "${text}".`,
    );
  }
  return Math.round(value);
}

function segmentCount(text: string | undefined): number | 'auto' {
  if (text === undefined || text === 'auto') return PLAN_DEFAULTS.segments;
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < 1 || value > MAX_SEGMENTS) {
    throw invalid(
      `Invalid --segments: expected a whole number from 1 to ${MAX_SEGMENTS}, or "auto", received "${text}".`,
    );
  }
  return value;
}

function billing(text: string | undefined): TableBilling | undefined {
  if (text === undefined) return undefined;
  if (text === 'on-demand') return 'PAY_PER_REQUEST';
  if (text === 'provisioned') return 'PROVISIONED';
  throw invalid(`Invalid --table-billing: expected "on-demand" or "provisioned", received "${text}".`);
}

function invalid(message: string): CliError {
  return new CliError(message, ExitCode.invalidInput);
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
