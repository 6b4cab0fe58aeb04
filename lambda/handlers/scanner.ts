import { Logger } from '@aws-lambda-powertools/logger';
import { type AwsClients, createAwsClients } from '../adapters/clients';
import { DynamoDbPageReader } from '../adapters/dynamodb-page-reader';
import { DynamoDbProgressStore } from '../adapters/dynamodb-progress-store';
import { EventBridgeEventPublisher } from '../adapters/eventbridge-event-publisher';
import { KinesisRecordSink } from '../adapters/kinesis-record-sink';
import { KinesisStreamRange } from '../adapters/kinesis-stream-range';
import { LambdaContinuation } from '../adapters/lambda-continuation';
import { PowertoolsMetrics, publishesMetrics } from '../adapters/powertools-metrics';
import { SsmCheckpointStore } from '../adapters/ssm-checkpoint-store';
import { randomIds, systemClock } from '../adapters/system';
import type {
  FailuresResponse,
  HistoryResponse,
  ReplayResponse,
  StartResponse,
  StatusResponse,
} from '../contract';
import { listFailures, replayFailures } from '../core/consumer-failures';
import type { Clock, IdSource, Metrics, ScannerPorts } from '../core/ports';
import {
  type ControlConfig,
  getStatus,
  listScans,
  resumeScan,
  runWatchdog,
  startScan,
  stopScan,
  type WatchdogReport,
} from '../core/scan-control';
import { runSegment, type SegmentOutcome } from '../core/segment-runner';
import { readConfig, type ScannerConfig } from './config';
import { parseEvent } from './parse-event';

/** The parts of the Lambda context the scanner uses. */
export interface InvocationContext {
  readonly functionName: string;
  getRemainingTimeInMillis(): number;
}

export type ScannerResult =
  | StartResponse
  | StatusResponse
  | HistoryResponse
  | FailuresResponse
  | ReplayResponse
  | SegmentOutcome
  | WatchdogReport;

export interface ScannerHandlerOptions {
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** @default clients built from `env` */
  readonly clients?: AwsClients;
  readonly clock?: Clock;
  readonly ids?: IdSource;
  readonly logger?: Logger;
  /**
   * Receives the EMF line (CloudWatch embedded metric format) each invocation that counted
   * something publishes, e.g. to assert metrics in a test.
   * @default stdout inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), nowhere elsewhere, so local
   * runs print none; `POWERTOOLS_METRICS_DISABLED` and `POWERTOOLS_DEV` as in Powertools
   */
  readonly metricsOutput?: (line: string) => void;
}

/** A throttled SSM call gives up this long before the invocation's deadline, or after at most a minute. */
const THROTTLE_RETRY_MARGIN_MS = 2_000;
const MAX_THROTTLE_RETRY_MS = 60_000;

/** Counts nobody publishes: metrics are off outside Lambda. */
const discardedMetrics: Metrics = { add: () => {} };

/**
 * Builds the scanner's Lambda handler. Configuration and clients are composed once, on the
 * first invocation, and reused while the execution environment lives.
 *
 * @example
 * export const handler = createScannerHandler();
 */
export function createScannerHandler(options: ScannerHandlerOptions = {}) {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const logger =
    options.logger ??
    new Logger({
      serviceName: 'ddbscan',
      logLevel: (env.POWERTOOLS_LOG_LEVEL ?? env.AWS_LAMBDA_LOG_LEVEL ?? 'INFO') as 'INFO',
    });
  const emitsMetrics = options.metricsOutput !== undefined || publishesMetrics(env);
  let composed: { config: ScannerConfig; clients: AwsClients } | undefined;

  return async function handler(event: unknown, context: InvocationContext): Promise<ScannerResult> {
    composed ??= { config: readConfig(env), clients: options.clients ?? createAwsClients(env) };
    const { config, clients } = composed;
    let request: ReturnType<typeof parseEvent>;
    try {
      request = parseEvent(event);
    } catch (error) {
      // A rejected request is a Lambda error too (the errors alarm counts it): say which.
      logger.resetKeys();
      logger.error('invocation failed', { action: 'unknown', error: error as Error });
      throw error;
    }
    const deadline = clock.now() + context.getRemainingTimeInMillis();

    logger.resetKeys();
    if (request.action === 'segment') {
      logger.appendKeys({ scanId: request.scanId, segment: request.segment, generation: request.generation });
    } else if ('scanId' in request && request.scanId !== null) {
      // The core adds the current scan's id once it has read it (a request may name another).
      logger.appendKeys({ scanId: request.scanId });
    }
    // One per invocation: the counts of this invocation only, published every minute and when it ends.
    const metrics = emitsMetrics
      ? new PowertoolsMetrics({
          functionName: context.functionName,
          output: options.metricsOutput,
          log: logger,
          now: () => clock.now(),
        })
      : undefined;
    const events = new EventBridgeEventPublisher(clients.eventbridge, config.eventBusName);
    const ports: ScannerPorts = {
      reader: new DynamoDbPageReader(clients.dynamodb, config.tableName),
      sink: new KinesisRecordSink(clients.kinesis, config.streamName, clock),
      // Throttled SSM calls are waited out until shortly before the invocation must end.
      store: new SsmCheckpointStore(clients.ssm, config.parameterName, {
        clock,
        retryThrottlingUntil: () =>
          Math.min(deadline - THROTTLE_RETRY_MARGIN_MS, clock.now() + MAX_THROTTLE_RETRY_MS),
      }),
      continuation: new LambdaContinuation(clients.lambda, context.functionName),
      events,
      clock,
      ids: options.ids ?? randomIds,
      log: logger,
      metrics: metrics ?? discardedMetrics,
      ...(config.progress === undefined
        ? {}
        : {
            progress: {
              store: new DynamoDbProgressStore(clients.dynamodb, config.progress.table, clock),
              events,
              consumers: config.progress.consumers,
              stream: new KinesisStreamRange(clients.kinesis, config.streamName),
            },
          }),
    };
    const control: ControlConfig = {
      tableName: config.tableName,
      defaultPageSize: config.pageSize ?? null,
      defaultConcurrency: config.concurrency,
      stalledAfterMs: config.stalledAfterMs,
    };

    try {
      switch (request.action) {
        case 'start':
          return await startScan(request.options, control, ports);
        case 'status':
          return await getStatus(control, ports, request.scanId);
        case 'history':
          return await listScans(ports);
        case 'failures':
          return await listFailures(request, ports);
        case 'replay':
          return await replayFailures(request, ports);
        case 'stop':
          return await stopScan(ports, request.scanId);
        case 'resume':
          return await resumeScan(control, ports, request.scanId);
        case 'watchdog': {
          const report = await runWatchdog(control, ports);
          logger.info('watchdog', { ...report });
          return report;
        }
        case 'segment': {
          const outcome = await runSegment(
            request,
            {
              deadline,
              handoffMs: config.handoffMs,
              checkpointIntervalMs: config.checkpointIntervalMs,
              checkpointWritesPerSecond: config.checkpointWritesPerSecond,
              pageSize: config.pageSize,
              region: config.region,
              stalledAfterMs: config.stalledAfterMs,
            },
            ports,
          );
          logger.info('segment invocation ended', { outcome: outcome.kind });
          return outcome;
        }
      }
    } catch (error) {
      // Rethrown so the synchronous caller sees it, and Lambda's async retry (then the
      // on-failure destination) takes over for a chain.
      logger.error('invocation failed', { action: request.action, error: error as Error });
      throw error;
    } finally {
      // Also after an error: what the invocation did before it still happened.
      metrics?.publish();
    }
  };
}

export const handler = createScannerHandler();
