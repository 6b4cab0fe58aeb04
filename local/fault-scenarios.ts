import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScanState, type StartResponse, type StatusResponse } from '../lambda/contract';
import type { AttributeMap } from '../lambda/core/attribute-value';
import { ChainPolicy } from '../lambda/core/segment-runner';
import { checkDelivery, type DeliveryReport } from './delivery-check';
import { invoke } from './demo';
import { createDemoTable, generateItems, mulberry32, writeItems } from './demo-data';
import type { FaultAction, FaultRule, ServiceCall } from './faults';
import { createStream } from './local-resources';
import { deployLocalScanner } from './local-scanner';
import { AWS_SSM_QUOTAS } from './local-ssm';
import { type LocalStack, startLocalStack } from './local-stack';
import { readWholeStream } from './stream-reader';

/** The shape of every scenario's scan: small, many hand-offs, a checkpoint after every page. */
const SCAN = {
  items: 900,
  segments: 3,
  shards: 4,
  pageSize: 25,
  timeoutMs: 1500,
  handoffMs: 1200,
  checkpointIntervalMs: 0,
  /** How often the watchdog schedule fires (in AWS every 5 minutes). */
  watchdogEveryMs: 400,
  /** A scenario that has not finished by then fails. */
  deadlineMs: 150_000,
} as const;

export interface ScenarioOptions {
  /**
   * Run with AWS's SSM quotas enforced (3 writes and 40 reads a second), the scanner's write
   * budget of 2 a second, and 6 segments on 3 chains. @default false
   */
  readonly quotas?: boolean;
}

/** With quotas on: 3 chains of 2 segments each. */
const QUOTA_CHAINS = 3;
/** Invocations with quotas on: 6 s, handing off at 2 s left. */
const QUOTA_TIMING = { timeoutMs: 6_000, handoffMs: 2_000 } as const;

/**
 * Start, status and watchdog are idempotent, so the harness retries them like an operator (or
 * the AWS CLI) would when an invocation fails under injected faults.
 */
async function control(stack: LocalStack, functionName: string, payload: unknown): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await invoke(stack.clients.lambda, functionName, payload);
    } catch (error) {
      if (attempt >= 5 || (error instanceof Error && error.message.startsWith('ValidationError')))
        throw error;
      await sleep(100 * attempt);
    }
  }
}

/** Attempts the scanner's SSM client makes per call (lambda/adapters/clients.ts). */
const SDK_ATTEMPTS = 5;

/**
 * Duplicates one disruption may cause: with a checkpoint after every page, the page being
 * written when it hit, and the one a superseded twin wrote before noticing.
 */
const DUPLICATE_PAGES_PER_DISRUPTION = 2;

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Builds the fault rule from a seeded random source; undefined for no injected faults. */
  readonly faults?: (random: () => number) => FaultRule;
  readonly duplicateDelivery?: boolean;
  /** Concurrent start calls (default 1). */
  readonly concurrentStarts?: number;
  /** Invocation timing for this scenario. @default 1.5 s invocations handing off at 1.2 s */
  readonly timing?: { readonly timeoutMs: number; readonly handoffMs: number };
  /** Pages one disruption may repeat. @default 2 (a checkpoint after every page) */
  readonly duplicatePagesPerDisruption?: number;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly seed: number;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly status: StatusResponse | undefined;
  readonly delivery: DeliveryReport | undefined;
  /** Kills, retries, duplicate deliveries, dropped events and relaunches: what can repeat work. */
  readonly disruptions: number;
  readonly duplicateBound: number;
  readonly injected: Readonly<Record<string, number>>;
  readonly seconds: number;
}

const isSegmentCall = (call: ServiceCall) =>
  call.caller !== undefined && hasAction(call.caller.event, 'segment');
const isCheckpointWrite = (call: ServiceCall) =>
  call.service === 'ssm' &&
  call.operation === 'PutParameter' &&
  String(call.input.Name).includes('/segment/');
const isHandOff = (call: ServiceCall) =>
  call.service === 'lambda' && call.operation === 'Invoke' && isSegmentCall(call);
const kill = (when: 'before' | 'after'): FaultAction => ({ kind: 'kill', when });

/** Kills each segment's invocation once at the first call that matches, a chosen point. */
function killOncePerSegment(
  matches: (call: ServiceCall) => boolean,
  when: 'before' | 'after',
): () => FaultRule {
  return () => {
    const killed = new Set<number>();
    return (call) => {
      if (!isSegmentCall(call) || !matches(call)) return undefined;
      const segment = segmentOf(call);
      if (killed.has(segment)) return undefined;
      killed.add(segment);
      return kill(when);
    };
  };
}

/** Per-shard token buckets: records over `recordsPerSecond` in a 100 ms window are throttled. */
function shardThrottle(
  shards: number,
  recordsPerSecond: number,
): (partitionKey: string) => string | undefined {
  const window = new Map<number, { start: number; count: number }>();
  return (partitionKey) => {
    const shard = Number(
      BigInt(`0x${createHash('md5').update(partitionKey).digest('hex')}`) % BigInt(shards),
    );
    const now = Date.now();
    const bucket = window.get(shard);
    if (bucket === undefined || now - bucket.start >= 100) {
      window.set(shard, { start: now, count: 1 });
      return undefined;
    }
    bucket.count++;
    return bucket.count > recordsPerSecond / 10 ? 'ProvisionedThroughputExceededException' : undefined;
  };
}

/**
 * The scenarios of the fault-injection suite. Each runs a full scan of several segments. Faults
 * target the segment chains; start, status and watchdog calls share the chains' 1.5 s timeout
 * here (900 s in AWS, where their callers retry them), so throttling is not injected into them.
 */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'duplicate-delivery',
    description: 'every async event is delivered twice',
    duplicateDelivery: true,
  },
  {
    name: 'kill-mid-page',
    description: 'each segment is killed once after its first PutRecords was accepted, before the reply',
    faults: killOncePerSegment((c) => c.service === 'kinesis' && c.operation === 'PutRecords', 'after'),
  },
  {
    name: 'kill-before-checkpoint',
    description: 'each segment is killed once after its puts, before its first checkpoint is written',
    faults: killOncePerSegment((c) => isCheckpointWrite(c) && hasProgress(c), 'before'),
  },
  {
    name: 'kill-before-handoff',
    description: 'each segment is killed once after its hand-off checkpoint, before the re-invoke',
    faults: killOncePerSegment(isHandOff, 'before'),
  },
  {
    name: 'kill-random',
    description: 'invocations are killed at random points: 4% of their PutRecords, checkpoints and hand-offs',
    faults: (random) => (call) => {
      if (!isSegmentCall(call)) return undefined;
      const point = call.operation === 'PutRecords' || isCheckpointWrite(call) || isHandOff(call);
      if (!point || random() >= 0.04) return undefined;
      return kill(random() < 0.5 ? 'before' : 'after');
    },
  },
  {
    name: 'kinesis-failures',
    description:
      '10% of PutRecords entries fail with InternalFailure, and shards throttle above 300 records/s',
    faults: (random) => {
      const throttle = shardThrottle(SCAN.shards, 300);
      return (call) =>
        call.operation === 'PutRecords'
          ? {
              kind: 'fail-entries',
              errorFor: (_, entry) => (random() < 0.1 ? 'InternalFailure' : throttle(entry.partitionKey)),
            }
          : undefined;
    },
  },
  {
    name: 'ssm-throttling',
    description: 'SSM throttles one call in five (the SDK retries absorb most)',
    faults: () => {
      let calls = 0;
      return (call) =>
        call.service === 'ssm' && isSegmentCall(call) && ++calls % 5 === 0
          ? { kind: 'error', name: 'ThrottlingException', message: 'Rate exceeded' }
          : undefined;
    },
  },
  {
    name: 'ssm-throttling-persistent',
    description: 'SSM throttles one checkpoint write in five through all of the SDK retries',
    // The SDK's own backoff for one persistently throttled call is about 7 s: the invocations need
    // room for it, as in AWS (900 s), so the throttling reaches the scanner's handling.
    timing: { timeoutMs: 20_000, handoffMs: 10_000 },
    // A throttled checkpoint is skipped (the interval grows), so a disruption can repeat the pages
    // since the last checkpoint that got through: at most a segment here (12 pages).
    duplicatePagesPerDisruption: 12,
    faults: () => {
      // The SDK retries a throttled call (5 attempts): throttle a chosen request on every attempt,
      // so the throttling reaches the scanner's own handling (adaptive checkpoints, retries).
      const persisting = new Map<string, number>();
      let requests = 0;
      return (call) => {
        if (!isCheckpointWrite(call) || !isSegmentCall(call)) return undefined;
        const key = `${call.caller?.container} ${call.operation} ${String(call.input.Name)}`;
        const left = persisting.get(key);
        if (left === undefined && ++requests % 5 !== 0) return undefined;
        if (left === 1) persisting.delete(key);
        else persisting.set(key, (left ?? SDK_ATTEMPTS + 1) - 1);
        return { kind: 'error', name: 'ThrottlingException', message: 'Rate exceeded' };
      };
    },
  },
  {
    name: 'dynamodb-throttling',
    description: '30% of Scan calls are throttled',
    faults: (random) => (call) =>
      call.operation === 'Scan' && isSegmentCall(call) && random() < 0.3
        ? {
            kind: 'error',
            name: 'ProvisionedThroughputExceededException',
            message: 'Throughput exceeds the current capacity',
          }
        : undefined,
  },
  {
    name: 'lost-handoff',
    description: "one segment's first hand-off event is lost; the watchdog recovers the segment",
    faults: () => {
      let dropped = false;
      return (call) => {
        if (dropped || !isHandOff(call)) return undefined;
        dropped = true;
        return { kind: 'drop' };
      };
    },
  },
  {
    name: 'concurrent-starts',
    description: 'five start calls at once make one scan',
    concurrentStarts: 5,
  },
];

/** A randomized mix for the larger run: each fault kind on or off, with random rates. */
export function randomScenario(random: () => number): Scenario {
  const rates = {
    kill: random() < 0.6 ? random() * 0.05 : 0,
    failEntries: random() < 0.5 ? random() * 0.15 : 0,
    ssm: random() < 0.5 ? random() * 0.25 : 0,
    scan: random() < 0.5 ? random() * 0.3 : 0,
    drop: random() < 0.4 ? random() * 0.1 : 0,
  };
  const duplicateDelivery = random() < 0.3;
  return {
    name: 'random-mix',
    description: `kill ${pct(rates.kill)}, failed entries ${pct(rates.failEntries)}, SSM throttling ${pct(rates.ssm)}, Scan throttling ${pct(rates.scan)}, lost hand-offs ${pct(rates.drop)}, duplicate delivery ${duplicateDelivery}`,
    duplicateDelivery,
    concurrentStarts: random() < 0.2 ? 3 : 1,
    faults: (r) => (call) => {
      if (call.operation === 'PutRecords' && rates.failEntries > 0 && r() < 0.5) {
        return {
          kind: 'fail-entries',
          errorFor: () => (r() < rates.failEntries ? 'InternalFailure' : undefined),
        };
      }
      if (
        isSegmentCall(call) &&
        (call.operation === 'PutRecords' || isCheckpointWrite(call) || isHandOff(call))
      ) {
        if (r() < rates.kill) return kill(r() < 0.5 ? 'before' : 'after');
      }
      if (isHandOff(call) && r() < rates.drop) return { kind: 'drop' };
      if (call.service === 'ssm' && isSegmentCall(call) && r() < rates.ssm) {
        return { kind: 'error', name: 'ThrottlingException', message: 'Rate exceeded' };
      }
      if (call.operation === 'Scan' && isSegmentCall(call) && r() < rates.scan) {
        return {
          kind: 'error',
          name: 'ProvisionedThroughputExceededException',
          message: 'Throughput exceeds the current capacity',
        };
      }
      return undefined;
    },
  };
}

/**
 * Runs one scenario on a fresh local stack with the scanner in worker-thread containers (so a
 * kill stops an invocation for real), a watchdog on a schedule, and checks the promises: every
 * item delivered unchanged, duplicates within the bound, the scan COMPLETED, at most one completion
 * event (exactly one unless the scan records its fate as unknown), and no invocation left running
 * or writing once it completed.
 */
export async function runScenario(
  scenario: Scenario,
  seed: number,
  items?: readonly AttributeMap[],
  options: ScenarioOptions = {},
): Promise<ScenarioResult> {
  const started = Date.now();
  const random = mulberry32(seed);
  const quotas = options.quotas === true;
  const stack = await startLocalStack({
    lambda: { asyncRetryDelaysMs: [100, 200], duplicateDelivery: scenario.duplicateDelivery ?? false },
    ...(quotas ? { ssmQuotas: AWS_SSM_QUOTAS } : {}),
  });
  // With AWS's SSM quotas, invocations long enough for each chain to take its turns of the write
  // budget, and twice the segments of the chains.
  const timing = scenario.timing ?? (quotas ? QUOTA_TIMING : SCAN);
  const problems: string[] = [];
  let status: StatusResponse | undefined;
  let delivery: DeliveryReport | undefined;
  let relaunched = 0;
  /** PutRecords calls after the scan ended, by calling container. */
  const writesAfterCompletion = new Map<string, Set<string>>();
  let completedAt: number | undefined;
  try {
    const table = items ?? generateItems(SCAN.items, { seed, bigEvery: 0 });
    await createDemoTable(stack.clients.dynamodb, 'Orders');
    await writeItems(stack.clients.dynamodb, 'Orders', table);
    await createStream(stack.clients.kinesis, 'faults', SCAN.shards);
    const { functionName } = await deployLocalScanner(stack, {
      tableName: 'Orders',
      streamName: 'faults',
      timeoutMs: timing.timeoutMs,
      handoffMs: timing.handoffMs,
      ...(quotas ? { checkpointWritesPerSecond: 2, concurrency: QUOTA_CHAINS } : {}),
      checkpointIntervalMs: SCAN.checkpointIntervalMs,
      pageSize: SCAN.pageSize,
      logLevel: 'SILENT',
      isolated: true,
    });
    const rule = scenario.faults?.(random);
    stack.faults.rule = (call) => {
      if (completedAt !== undefined && call.operation === 'PutRecords') {
        const who = call.caller?.container ?? 'unknown';
        const keys = writesAfterCompletion.get(who) ?? new Set<string>();
        for (const record of (call.input.Records ?? []) as { PartitionKey?: string }[])
          keys.add(String(record.PartitionKey));
        writesAfterCompletion.set(who, keys);
      }
      return rule?.(call);
    };

    const starts = (await Promise.all(
      Array.from({ length: scenario.concurrentStarts ?? 1 }, () =>
        control(stack, functionName, {
          action: 'start',
          segments: quotas ? 2 * QUOTA_CHAINS : SCAN.segments,
        }),
      ),
    )) as StartResponse[];
    const scanIds = new Set(starts.map((s) => s.scanId));
    if (scanIds.size !== 1) problems.push(`${starts.length} concurrent starts made ${scanIds.size} scans`);
    const scanId = starts[0]?.scanId ?? '';

    for (let lastWatchdog = 0; ; ) {
      status = (await control(stack, functionName, { action: 'status' })) as StatusResponse;
      if (status.state !== ScanState.running) break;
      if (Date.now() - started > SCAN.deadlineMs) {
        problems.push(`not finished after ${SCAN.deadlineMs / 1000} s: ${JSON.stringify(status.segments)}`);
        break;
      }
      if (Date.now() - lastWatchdog >= SCAN.watchdogEveryMs) {
        lastWatchdog = Date.now();
        const report = (await control(stack, functionName, { action: 'watchdog' })) as {
          relaunched: number;
        };
        relaunched += report.relaunched;
      }
      await sleep(50);
    }
    completedAt = Date.now();
    await Promise.race([stack.lambda.idle(), sleep(10_000)]);
    const idle = await Promise.race([stack.lambda.idle().then(() => true), sleep(0).then(() => false)]);
    if (!idle) problems.push('invocations still running 10 s after the scan ended');
    // A straggler (say a late duplicate) may finish the pages it was writing (the next page's
    // writes start while one page's last batches are answered), then its next checkpoint sees
    // the scan ended: more than that after the end would be a live chain. (A page's resent
    // entries are the same items, so items are counted, not calls.)
    const persistent = [...writesAfterCompletion.entries()].filter(
      ([, items]) => items.size > ChainPolicy.pagesInFlight * SCAN.pageSize,
    );
    if (persistent.length > 0) {
      problems.push(
        `invocations kept writing after the scan ended: ${persistent.map(([c, n]) => `${c} ${n.size} items`).join(', ')}`,
      );
    }

    stack.faults.rule = undefined;
    delivery = checkDelivery(
      table,
      ['pk', 'sk'],
      await readWholeStream(stack.clients.kinesis, 'faults'),
      scanId,
    );
    const completions = stack.eventbridge.events.filter(
      (e) => (e.detail as { scanId?: string }).scanId === scanId,
    ).length;
    if (status?.state !== ScanState.completed)
      problems.push(`the scan ended ${status?.state}: ${status?.error ?? ''}`);
    if (delivery.missing > 0)
      problems.push(`${delivery.missing} items lost, e.g. ${delivery.missingExamples.join(' ')}`);
    if (delivery.altered > 0) problems.push(`${delivery.altered} items altered`);
    if (delivery.unexpected > 0) problems.push(`${delivery.unexpected} unexpected records`);
    // At most one event, whatever was killed; exactly one unless the scan says its fate is unknown
    // (a completer stopped between taking the right to send and recording the scan).
    const expected = status?.completionEvent === 'unknown' ? [0, 1] : [1];
    if (!expected.includes(completions)) {
      problems.push(`${completions} completion events (completionEvent ${status?.completionEvent})`);
    }
  } catch (error) {
    problems.push(`the scenario itself failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await stack.stop();
  }
  const stats = stack.lambda.stats;
  const disruptions =
    stats.kills +
    stats.retries +
    stats.duplicates +
    stats.timeouts +
    (stack.faults.counts.drop ?? 0) +
    relaunched;
  // With the write budget a chain checkpoints once per turn, and an invocation claims its chain
  // only at its first turn: a disruption may repeat a cycle of a chain's work, which at this
  // table's size is a chain's whole share (and two pages in flight).
  const pages = quotas
    ? Math.ceil(SCAN.items / QUOTA_CHAINS / SCAN.pageSize) + 2
    : (scenario.duplicatePagesPerDisruption ?? DUPLICATE_PAGES_PER_DISRUPTION);
  const duplicateBound = Math.max(1, disruptions) * pages * SCAN.pageSize;
  if (delivery !== undefined && delivery.duplicates > duplicateBound) {
    problems.push(
      `${delivery.duplicates} duplicates, over the bound of ${duplicateBound} for ${disruptions} disruptions`,
    );
  }
  return {
    scenario: scenario.name,
    seed,
    ok: problems.length === 0,
    problems,
    status,
    delivery,
    disruptions,
    duplicateBound,
    injected: { ...stack.faults.counts, kills: stats.kills, retries: stats.retries, relaunched },
    seconds: (Date.now() - started) / 1000,
  };
}

/** A checkpoint write after some pages: not the claim of a fresh segment. */
function hasProgress(call: ServiceCall): boolean {
  try {
    const value = JSON.parse(String(call.input.Value)) as { itemsScanned?: unknown; state?: unknown };
    return value.state === 'RUNNING' && typeof value.itemsScanned === 'number' && value.itemsScanned > 0;
  } catch {
    return false;
  }
}

function segmentOf(call: ServiceCall): number {
  const event = call.caller?.event as { segment?: unknown } | undefined;
  return typeof event?.segment === 'number' ? event.segment : -1;
}

function hasAction(event: unknown, action: string): boolean {
  return typeof event === 'object' && event !== null && (event as { action?: unknown }).action === action;
}

function pct(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}
