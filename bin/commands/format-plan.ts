import { count, duration } from './format-status';
import type { CostLine, Plan, ThroughputBound } from './plan-estimate';

const BOUNDS: Readonly<Record<ThroughputBound, string>> = {
  'stream-bytes': "the stream's MiB/s",
  'stream-records': "the stream's records/s",
  chains: "the chains' rate",
  'table-read-capacity': "the table's read capacity",
};

/** A plan as readable lines: the figures, the cost by line item, notes and assumptions. */
export function formatPlan(
  plan: Plan,
  names: { readonly tableName: string | null; readonly streamName: string | null },
  assumptions: readonly string[],
): string[] {
  const { table, stream, throughput, lambda, dynamodb, kinesis, ssm } = plan;
  const limits = throughput.limits;
  const rows: [string, string][] = [
    [
      'table',
      `${names.tableName ?? '(from flags)'}: ${size(table.bytes)}, ${count(table.items)} items, ${size(table.averageItemBytes)} per item, ${table.billing === 'PAY_PER_REQUEST' ? 'on-demand' : `provisioned${table.readCapacity === null ? '' : `, ${count(table.readCapacity)} RCU`}`}`,
    ],
    [
      'stream',
      `${names.streamName ?? '(from flags)'}: ${stream.mode === 'ON_DEMAND' ? 'on-demand' : 'provisioned'}, ${stream.openShards} shards; writes ${count(stream.bytesPerSecond / 1024 ** 2)} MiB/s, ${count(stream.recordsPerSecond)} records/s`,
    ],
    [
      'segments',
      `${plan.segments.used} (recommended ${plan.segments.recommended}: ${plan.segments.reason}), scanned by ${plan.segments.chains} chain${plan.segments.chains === 1 ? '' : 's'} at once`,
    ],
    ['record', `${count(plan.record.bytes)} B${plan.record.estimated ? ' (estimated)' : ''}`],
    [
      'rate',
      `${count(Math.round(throughput.itemsPerSecond))} items/s, bound by ${BOUNDS[throughput.boundBy]} (stream ${rate(limits['stream-bytes'])} by bytes, ${rate(limits['stream-records'])} by records; chains ${rate(limits.chains)}${limits['table-read-capacity'] === null ? '' : `; table ${rate(limits['table-read-capacity'])}`})`,
    ],
    ['duration', duration(plan.durationSeconds)],
    [
      'Lambda',
      `${count(lambda.invocations)} invocations (chains ${count(lambda.chainInvocations)} with ${count(lambda.handoffs)} hand-offs, start ${lambda.startInvocations}, watchdog ${count(lambda.watchdogRuns)}); ${quantity(lambda.gbSeconds)} GB-s at ${lambda.memoryMb} MB; peak concurrency ${lambda.peakConcurrency}`,
    ],
    [
      'DynamoDB',
      `${quantity(dynamodb.readUnits)} read units (${dynamodb.consistentRead ? 'strongly' : 'eventually'} consistent), ${count(dynamodb.pages)} page${dynamodb.pages === 1 ? '' : 's'}`,
    ],
    [
      'Kinesis',
      `${count(kinesis.records)} records, ${size(kinesis.bytes)}; ${stream.mode === 'ON_DEMAND' ? `${quantity(kinesis.dataInGib)} GiB in (records rounded up to 1 KB)` : `${count(kinesis.putPayloadUnits)} PUT payload units`}`,
    ],
    [
      'SSM',
      `${count(ssm.checkpointWrites)} writes (${quantity(ssm.writesPerSecond)}/s), ${count(ssm.reads)} reads, ${ssm.callsPerStatus} calls per status`,
    ],
  ];
  const lines = rows.map(([label, value]) => `  ${label.padEnd(10)}${value}`);
  lines.push('', `  ${'cost (USD)'.padEnd(30)}${'quantity'.padEnd(26)}${'unit price'.padEnd(30)}cost`);
  for (const l of plan.cost.lines) lines.push(`  ${costLine(l)}`);
  lines.push(`  ${'total'.padEnd(86)}${usd(plan.cost.totalUsd)}`);
  if (plan.warnings.length > 0) lines.push('', 'notes:', ...plan.warnings.map((w) => `  - ${w}`));
  lines.push('', 'assumptions:', ...assumptions.map((a) => `  - ${a}`));
  return lines;
}

function costLine(l: CostLine): string {
  const unitPrice =
    l.unitPrice === 0
      ? 'free'
      : l.unitPrice < 0.001
        ? `$${Number((l.unitPrice * 1e6).toPrecision(6))} per million ${l.unit}`
        : `$${l.unitPrice} per ${singular(l.unit)}`;
  return `${l.item.padEnd(30)}${`${quantity(l.quantity)} ${l.unit}`.padEnd(26)}${unitPrice.padEnd(30)}${usd(l.usd)}`;
}

function singular(unit: string): string {
  return unit.endsWith('s') && unit !== 'GB-s' ? unit.slice(0, -1) : unit;
}

function usd(amount: number): string {
  return `$${amount.toFixed(amount >= 100 ? 2 : 4)}`;
}

function rate(itemsPerSecond: number | null): string {
  return itemsPerSecond === null ? 'n/a' : count(Math.round(itemsPerSecond));
}

function quantity(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/** Decimal units, as DynamoDB reports TableSizeBytes. */
function size(bytes: number): string {
  const units: [number, string][] = [
    [1e12, 'TB'],
    [1e9, 'GB'],
    [1e6, 'MB'],
    [1e3, 'KB'],
  ];
  for (const [factor, unit] of units) {
    if (bytes >= factor) return `${Number((bytes / factor).toFixed(1))} ${unit}`;
  }
  return `${Math.round(bytes)} B`;
}
