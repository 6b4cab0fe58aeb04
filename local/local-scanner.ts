import { join } from 'node:path';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { INITIAL_ROOT_PARAMETER_VALUE, ScannerEnv } from '../lambda/contract';
import { createScannerHandler } from '../lambda/handlers/scanner';
import type { LocalHandler } from './local-lambda';
import type { LocalStack } from './local-stack';

export interface LocalScannerOptions {
  readonly tableName: string;
  readonly streamName: string;
  /** @default 'ddbscan-local' */
  readonly functionName?: string;
  /** @default '/ddbscan/local' */
  readonly parameterName?: string;
  /** The function's timeout. @default 900,000 ms, as deployed */
  readonly timeoutMs?: number;
  /** @default the scanner's default, 15,000 ms */
  readonly handoffMs?: number;
  /** @default the scanner's default, 10,000 ms */
  readonly checkpointIntervalMs?: number;
  /** @default DynamoDB's 1 MB pages */
  readonly pageSize?: number;
  /** @default 'WARN': the local stack prints summaries, not every log line */
  readonly logLevel?: string;
  /**
   * Run each invocation in a worker-thread container, so timeouts and injected kills stop it
   * for real (slower to start). @default false: in this process
   */
  readonly isolated?: boolean;
  /** SSM writes a second the scan's chains share (`checkpointWritesPerSecond`). @default unset: none */
  readonly checkpointWritesPerSecond?: number;
  /** Chains a start runs at once when it names no concurrency. @default the scanner's, 100 */
  readonly concurrency?: number;
  /** The tracked consumers' progress table and names, as the construct sets them. @default none */
  readonly progress?: { readonly tableName: string; readonly consumers: readonly string[] };
  /** Wraps the in-process handler, e.g. to observe invocations. @default none */
  readonly instrument?: (handler: LocalHandler) => LocalHandler;
}

export interface LocalScanner {
  readonly functionName: string;
  readonly parameterName: string;
}

/**
 * The local counterpart of `cdk deploy`: creates the root parameter with the value the stack
 * gives it and registers the real scanner handler with the local Lambda endpoint, configured
 * through the same environment variables as in AWS.
 */
export async function deployLocalScanner(
  stack: LocalStack,
  options: LocalScannerOptions,
): Promise<LocalScanner> {
  const functionName = options.functionName ?? 'ddbscan-local';
  const parameterName = options.parameterName ?? '/ddbscan/local';
  await stack.clients.ssm.send(
    new PutParameterCommand({
      Name: parameterName,
      Value: INITIAL_ROOT_PARAMETER_VALUE,
      Type: 'String',
      Overwrite: true,
    }),
  );
  const settings: Record<string, string | undefined> = {
    ...stack.env,
    [ScannerEnv.tableName]: options.tableName,
    [ScannerEnv.streamName]: options.streamName,
    [ScannerEnv.parameterName]: parameterName,
    [ScannerEnv.handoffMs]: optional(options.handoffMs),
    [ScannerEnv.checkpointIntervalMs]: optional(options.checkpointIntervalMs),
    [ScannerEnv.pageSize]: optional(options.pageSize),
    [ScannerEnv.checkpointWritesPerSecond]: optional(options.checkpointWritesPerSecond),
    [ScannerEnv.concurrency]: optional(options.concurrency),
    // The construct uses the timeout plus a minute; a minute is too long next to a 1 s local timeout.
    [ScannerEnv.stalledAfterMs]: String(Math.max(1000, 2 * (options.timeoutMs ?? 900_000))),
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
    [ScannerEnv.progressTable]: options.progress?.tableName,
    [ScannerEnv.consumers]: options.progress && JSON.stringify(options.progress.consumers),
  };
  // Unset settings stay unset (a worker's environment would turn undefined into "undefined").
  const env = Object.fromEntries(
    Object.entries(settings).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const timeoutMs = options.timeoutMs ?? 900_000;
  if (options.isolated) {
    const modulePath = join(__dirname, '..', 'lambda', 'handlers', 'scanner.ts');
    stack.lambda.registerIsolated(functionName, { modulePath, exportName: 'handler', env }, { timeoutMs });
  } else {
    const handler: LocalHandler = createScannerHandler({ env });
    stack.lambda.register(functionName, options.instrument?.(handler) ?? handler, { timeoutMs });
  }
  return { functionName, parameterName };
}

function optional(value: number | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}
