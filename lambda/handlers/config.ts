import { MAX_CONCURRENCY, ScannerDefaults, ScannerEnv } from '../contract';
import { ValidationError } from '../core/errors';

export interface ScannerConfig {
  readonly tableName: string;
  readonly streamName: string;
  readonly parameterName: string;
  readonly handoffMs: number;
  readonly checkpointIntervalMs: number;
  readonly checkpointWritesPerSecond: number | undefined;
  readonly pageSize: number | undefined;
  readonly concurrency: number;
  readonly eventBusName: string;
  readonly stalledAfterMs: number;
  readonly region: string;
  /** The tracked consumers' progress table and names; unset when none is tracked. */
  readonly progress: { readonly table: string; readonly consumers: readonly string[] } | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads the function's configuration; a missing or malformed variable names itself. */
export function readConfig(env: Env): ScannerConfig {
  return {
    tableName: required(env, ScannerEnv.tableName),
    streamName: required(env, ScannerEnv.streamName),
    parameterName: required(env, ScannerEnv.parameterName),
    handoffMs: optionalInteger(env, ScannerEnv.handoffMs, 100, 600_000) ?? ScannerDefaults.handoffMs,
    checkpointIntervalMs:
      optionalInteger(env, ScannerEnv.checkpointIntervalMs, 0, 3_600_000) ??
      ScannerDefaults.checkpointIntervalMs,
    checkpointWritesPerSecond: optionalInteger(env, ScannerEnv.checkpointWritesPerSecond, 1, 10_000),
    // Scan: Limit from 1; PutRecords batches are 500 records, so larger pages simply make more batches.
    pageSize: optionalInteger(env, ScannerEnv.pageSize, 1, 1_000_000),
    concurrency:
      optionalInteger(env, ScannerEnv.concurrency, 1, MAX_CONCURRENCY) ?? ScannerDefaults.concurrency,
    eventBusName: env[ScannerEnv.eventBusName] || ScannerDefaults.eventBusName,
    stalledAfterMs:
      optionalInteger(env, ScannerEnv.stalledAfterMs, 1000, 86_400_000) ?? ScannerDefaults.stalledAfterMs,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    progress: progressOf(env),
  };
}

function progressOf(env: Env): ScannerConfig['progress'] {
  const table = env[ScannerEnv.progressTable];
  if (table === undefined || table === '') return undefined;
  return { table, consumers: readNames(env, ScannerEnv.consumers) };
}

/** A JSON array of names, e.g. `["Indexer"]`. */
export function readNames(env: Env, name: string): string[] {
  const text = env[name] ?? '[]';
  let names: unknown;
  try {
    names = JSON.parse(text);
  } catch {
    names = text;
  }
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n === '')) {
    throw new ValidationError(`environment variable ${name}`, 'a JSON array of names', text);
  }
  return names as string[];
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new ValidationError(`environment variable ${name}`, 'a value', value);
  return value;
}

function optionalInteger(env: Env, name: string, min: number, max: number): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`environment variable ${name}`, `an integer from ${min} to ${max}`, text);
  }
  return value;
}
