import { Duration, Lazy, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import {
  INITIAL_ROOT_PARAMETER_VALUE,
  MAX_CONCURRENCY,
  ProgressEnv,
  ScannerDefaults,
  ScannerEnv,
  ScannerMetrics,
} from '../lambda/contract';
import { createBundledFunction } from './bundled-function';
import { createFunctionRole } from './function-role';
import { acknowledgeNagFinding, nagResourceName } from './nag';
import {
  attachConsumer,
  createProgressTable,
  type ScanConsumer,
  type ScanConsumerOptions,
} from './scan-consumer';
import { ScannerMonitoring } from './scanner-monitoring';

/** Lambda: a function runs at most 900 s. */
const MAX_TIMEOUT_SECONDS = 900;

/** SQS3 asks every queue for a dead-letter queue; this queue is itself where failures end. */
const FAILED_INVOCATIONS_NAG_REASON =
  "This queue is itself the dead-letter destination: the function's async on-failure destination, which receives " +
  'events that failed every retry. Nothing consumes it, so a DLQ behind it would never receive anything. It keeps ' +
  'messages 14 days and an alarm fires while it holds one.';

/** The scanner's metric names (EMF, namespace `ScannerMetrics.namespace`). */
export type ScannerMetricName = (typeof ScannerMetrics)[Exclude<
  keyof typeof ScannerMetrics,
  'namespace' | 'service'
>];

export interface DynamoDbKinesisScannerProps {
  /** The table whose items are scanned. Only Scan and DescribeTable are granted on it. */
  readonly table: dynamodb.ITable;
  /**
   * The stream that receives one record per item.
   * @default - a new on-demand stream encrypted with the AWS managed key
   */
  readonly stream?: kinesis.IStream;
  /**
   * Name of the root SSM parameter; segment checkpoints live under `<name>/segment/<n>`.
   * @default - `/ddbscan/<construct path>`, e.g. `/ddbscan/MyStack/Scanner`
   */
  readonly parameterName?: string;
  /**
   * The function's timeout; each invocation of a chain works until the hand-off threshold.
   * @default Duration.minutes(15), Lambda's maximum
   */
  readonly timeout?: Duration;
  /**
   * Hand off to a new invocation when less than this remains.
   * @default Duration.seconds(15)
   */
  readonly handoffThreshold?: Duration;
  /**
   * Time between two checkpoint writes of a chain (SSM PutParameter allows about 3 writes per
   * second per account; a chain's first invocation checkpoints sooner at first, within its turns
   * of the write budget). A crash repeats at most this much work.
   * @default Duration.seconds(10)
   */
  readonly checkpointInterval?: Duration;
  /**
   * SSM writes per second that all chains of a scan share: each chain writes (its claim, cadence
   * checkpoints and hand-offs) in its own turns, once per `chains / checkpointWritesPerSecond` seconds (at 2
   * and 100 chains, every 50 s), so the account's SSM PutParameter limit (about 3 a second; 10
   * with higher throughput) is not exhausted. Raise it when the account has higher throughput.
   * @default 2
   */
  readonly checkpointWritesPerSecond?: number;
  /**
   * Chains a scan runs at once when its start request names no `concurrency`: each takes one
   * concurrent execution (two for a moment at each hand-off) of the account's 1,000, however
   * many segments the table is split into.
   * @default 100
   */
  readonly concurrency?: number;
  /**
   * Reserve concurrent executions for the scanner: `2 × concurrency + 10` (each chain, the
   * moment of overlap at its hand-off, and room for status, stop and watchdog calls). The
   * reservation guarantees the scanner its executions and caps it there, so a scan can neither
   * be starved by nor starve the account's other functions; it is taken from the account's
   * unreserved pool, which must keep at least 100. A start whose `concurrency` exceeds the
   * function's default then runs its extra chains only as executions free up.
   * @default false: the scanner shares the account's unreserved pool
   */
  readonly reserveConcurrency?: boolean;
  /**
   * Items per Scan page (`Limit`).
   * @default - DynamoDB's 1 MB pages
   */
  readonly pageSize?: number;
  /** @default 1024 */
  readonly memorySize?: number;
  /**
   * The bus that receives one "Scan Completed" event (source `ddbscan`) per scan.
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;
  /**
   * How often the watchdog runs: it relaunches segments whose checkpoint is older than the
   * function timeout plus a minute, and finishes scans whose segments are all done.
   * @default Duration.minutes(5)
   */
  readonly watchdogInterval?: Duration;
  /**
   * Receives the ALARM and OK notifications of every alarm of the scanner. CloudWatch must be
   * allowed to publish to it (and to use its KMS key if it is encrypted); `AlarmTopic` creates
   * such a topic.
   * @default - no notifications: the alarms show in the CloudWatch console and on the dashboard
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Create a CloudWatch dashboard with the scan's progress, the stream's write throughput, the
   * function's health and the alarms.
   * @default true
   */
  readonly dashboard?: boolean;
}

/**
 * A self-chaining Lambda that scans every item of a DynamoDB table into a Kinesis stream,
 * checkpointing in SSM Parameter Store, with the stream (unless one is given) and the root
 * parameter. Least privilege: read the table, write the stream, the root parameter path only,
 * invoke itself only.
 *
 * @example
 * const scanner = new DynamoDbKinesisScanner(this, 'Scanner', {
 *   table: dynamodb.Table.fromTableArn(this, 'Orders', 'arn:aws:dynamodb:us-east-1:123456789012:table/Orders'),
 * });
 * // start: aws lambda invoke --function-name <scanner.function.functionName> --payload '{"action":"start"}' out.json
 */
export class DynamoDbKinesisScanner extends Construct {
  readonly function: lambda.Function;
  readonly stream: kinesis.IStream;
  readonly parameter: ssm.StringParameter;
  /** Receives one "Scan Completed" event (source `ddbscan`) per scan. */
  readonly eventBus: events.IEventBus;
  /** Async invocations that failed every retry (on-failure destination), encrypted. */
  readonly failedInvocations: sqs.Queue;
  /** The alarms (each named on its own, and notifying `alarmTopic`) and the dashboard. */
  readonly monitoring: ScannerMonitoring;
  /** Every alarm of `monitoring`: failed invocations, errors, stalled segments, throttling, failed scans. */
  readonly alarms: readonly cloudwatch.Alarm[];
  /** The scanner's dashboard, unless `dashboard: false`. */
  readonly dashboard?: cloudwatch.Dashboard;
  /** The schedule that sends `{"action":"watchdog"}`. */
  readonly watchdog: events.Rule;
  private progress: dynamodb.Table | undefined;
  private readonly trackedConsumers: string[] = [];
  private failureCounterFn: lambda.Function | undefined;
  private readonly failureQueues: { name: string; failureQueueArn: string }[] = [];

  constructor(scope: Construct, id: string, props: DynamoDbKinesisScannerProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.seconds(MAX_TIMEOUT_SECONDS);
    const handoff = props.handoffThreshold ?? Duration.millis(ScannerDefaults.handoffMs);
    const checkpointInterval =
      props.checkpointInterval ?? Duration.millis(ScannerDefaults.checkpointIntervalMs);
    const checkpointWritesPerSecond =
      props.checkpointWritesPerSecond ?? ScannerDefaults.checkpointWritesPerSecond;
    if (
      !Number.isInteger(checkpointWritesPerSecond) ||
      checkpointWritesPerSecond < 1 ||
      checkpointWritesPerSecond > 10_000
    ) {
      throw new Error(
        `Invalid checkpointWritesPerSecond: expected an integer from 1 to 10000, received ${checkpointWritesPerSecond}.`,
      );
    }
    const concurrency = props.concurrency ?? ScannerDefaults.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
      throw new Error(
        `Invalid concurrency: expected an integer from 1 to ${MAX_CONCURRENCY}, received ${concurrency}.`,
      );
    }
    const watchdogInterval = props.watchdogInterval ?? Duration.minutes(5);
    validate(timeout, handoff, props.pageSize, watchdogInterval);

    this.stream =
      props.stream ??
      new kinesis.Stream(this, 'Stream', {
        streamMode: kinesis.StreamMode.ON_DEMAND,
        encryption: kinesis.StreamEncryption.MANAGED,
      });

    this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    this.failedInvocations = new sqs.Queue(this, 'FailedInvocations', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Lambda keeps an async event up to 6 hours; the queue keeps what failed for two weeks.
      retentionPeriod: Duration.days(14),
    });
    acknowledgeNagFinding(this.failedInvocations, 'AwsSolutions-SQS3', FAILED_INVOCATIONS_NAG_REASON);

    this.parameter = new ssm.StringParameter(this, 'Parameter', {
      parameterName: props.parameterName ?? defaultParameterName(this),
      // The stack owns this value and may put it back at any update: the scanner only reads it
      // (for a scan an earlier version kept here), and keeps its state under the path. Every
      // property stays as earlier versions had it, so that upgrading does not make CloudFormation
      // write the parameter (and the scan an earlier version kept in it) over.
      description:
        'dynamodb-kinesis-scanner: the current scan; segment checkpoints live under <name>/segment/',
      stringValue: INITIAL_ROOT_PARAMETER_VALUE,
    });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.function = createBundledFunction(this, 'Function', 'scanner', {
      architecture: lambda.Architecture.ARM_64,
      timeout,
      memorySize: props.memorySize ?? 1024,
      // The chain invokes itself once per hand-off: without ALLOW, Lambda's recursive loop
      // detection stops it after about 16 hops.
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
      ...(props.reserveConcurrency === true
        ? { reservedConcurrentExecutions: reservedConcurrencyFor(concurrency) }
        : {}),
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.failedInvocations),
      description: 'dynamodb-kinesis-scanner: scans a table into a Kinesis stream as a self-chaining job',
      environment: {
        [ScannerEnv.tableName]: props.table.tableName,
        [ScannerEnv.streamName]: this.stream.streamName,
        [ScannerEnv.parameterName]: this.parameter.parameterName,
        [ScannerEnv.handoffMs]: String(handoff.toMilliseconds()),
        [ScannerEnv.checkpointIntervalMs]: String(checkpointInterval.toMilliseconds()),
        [ScannerEnv.checkpointWritesPerSecond]: String(checkpointWritesPerSecond),
        [ScannerEnv.concurrency]: String(concurrency),
        ...(props.pageSize === undefined ? {} : { [ScannerEnv.pageSize]: String(props.pageSize) }),
        [ScannerEnv.eventBusName]: this.eventBus.eventBusName,
        [ScannerEnv.stalledAfterMs]: String(stalledAfter(timeout)),
        // Powertools Metrics' defaults, so every metric lands where the alarms and dashboard look.
        POWERTOOLS_METRICS_NAMESPACE: ScannerMetrics.namespace,
        POWERTOOLS_SERVICE_NAME: ScannerMetrics.service,
        NODE_OPTIONS: '--enable-source-maps',
      },
      logGroup,
      // Logs to its own log group only, instead of the AWSLambdaBasicExecutionRole managed policy.
      role: createFunctionRole(
        this,
        'ServiceRole',
        logGroup,
        'dynamodb-kinesis-scanner: scans the table into the stream',
      ),
    });

    this.grantLeastPrivilege(props.table);

    this.monitoring = new ScannerMonitoring(this, 'Monitoring', this, {
      alarmTopic: props.alarmTopic,
      dashboard: props.dashboard,
    });
    this.alarms = this.monitoring.alarms;
    this.dashboard = this.monitoring.dashboard;

    this.watchdog = new events.Rule(this, 'Watchdog', {
      description:
        'dynamodb-kinesis-scanner: relaunch stalled segments, finish scans whose segments are done',
      schedule: events.Schedule.rate(watchdogInterval),
      targets: [
        new targets.LambdaFunction(this.function, {
          event: events.RuleTargetInput.fromObject({ action: 'watchdog' }),
          retryAttempts: 2,
        }),
      ],
    });
  }

  /**
   * One of the scanner's own metrics (emitted in EMF by the function), for this scanner only:
   * dimensions `service` and `FunctionName`.
   *
   * @example
   * scanner.metric(ScannerMetrics.recordsPut, { period: Duration.minutes(1), statistic: 'Sum' });
   */
  metric(metricName: ScannerMetricName, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: ScannerMetrics.namespace,
      metricName,
      statistic: cloudwatch.Stats.SUM,
      ...props,
      dimensionsMap: { service: ScannerMetrics.service, FunctionName: this.function.functionName },
    });
  }

  /**
   * Attaches a consumer Lambda to the stream with defaults suited to a backfill: batches of
   * 100, partial batch responses (ReportBatchItemFailures), bisect on error, 3 retries, then an
   * encrypted on-failure queue; from the start of the stream. Each default can be overridden.
   *
   * @example
   * scanner.addConsumer(indexer, { batchSize: 500 });
   */
  addConsumer(consumer: lambda.IFunction, options: ScanConsumerOptions = {}): ScanConsumer {
    return attachConsumer(this, consumer, options);
  }

  /**
   * The consumers' progress table, created with the first consumer attached with
   * `trackProgress`; the scanner reads it for `status` and records each scan's total in it.
   */
  progressTable(): dynamodb.Table {
    if (this.progress !== undefined) return this.progress;
    const table = createProgressTable(this);
    this.progress = table;
    this.function.addEnvironment(ScannerEnv.progressTable, table.tableName);
    this.function.addEnvironment(
      ScannerEnv.consumers,
      Lazy.string({ produce: () => Stack.of(this).toJsonString(this.trackedConsumers) }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        // Query: a consumer's counters, and its failed records (`failures`, `replay`);
        // UpdateItem: a scan's total and the right to publish.
        actions: ['dynamodb:Query', 'dynamodb:UpdateItem'],
        resources: [table.tableArn, `${table.tableArn}/index/failed`],
      }),
    );
    // `replay` reads each failed record back from the stream (and puts it, as the scan does).
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kinesis:GetShardIterator', 'kinesis:GetRecords'],
        resources: [this.stream.streamArn],
      }),
    );
    this.stream.encryptionKey?.grantDecrypt(this.function);
    return table;
  }

  /**
   * Names a consumer whose progress `status` shows (see `ScanConsumerOptions.trackProgress`);
   * the failure counter drains its failure queue, if given.
   */
  trackConsumer(name: string, failureQueue?: sqs.Queue): void {
    this.progressTable();
    this.trackedConsumers.push(name);
    if (failureQueue === undefined) return;
    this.failureQueues.push({ name, failureQueueArn: failureQueue.queueArn });
    this.failureCounter().addEventSource(
      new sources.SqsEventSource(failureQueue, { batchSize: 10, reportBatchItemFailures: true }),
    );
  }

  /** One function for every tracked consumer's failure queue: it counts their failed records. */
  private failureCounter(): lambda.Function {
    if (this.failureCounterFn !== undefined) return this.failureCounterFn;
    const table = this.progressTable();
    const logGroup = new logs.LogGroup(this, 'FailureCounterLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const description = "dynamodb-kinesis-scanner: counts tracked consumers' records that failed every retry";
    const fn = createBundledFunction(this, 'FailureCounter', 'failure-counter', {
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.minutes(1),
      memorySize: 512,
      description,
      environment: {
        [ProgressEnv.progressTable]: table.tableName,
        [ProgressEnv.streamName]: this.stream.streamName,
        [ProgressEnv.eventBusName]: this.eventBus.eventBusName,
        [ProgressEnv.consumers]: Lazy.string({
          produce: () => Stack.of(this).toJsonString(this.failureQueues),
        }),
        POWERTOOLS_METRICS_NAMESPACE: ScannerMetrics.namespace,
        POWERTOOLS_SERVICE_NAME: ScannerMetrics.service,
      },
      logGroup,
      role: createFunctionRole(this, 'FailureCounterRole', logGroup, description),
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
        resources: [table.tableArn],
      }),
    );
    // Reads the failed batches' records back: an iterator at a sequence number, then GetRecords.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kinesis:GetShardIterator', 'kinesis:GetRecords'],
        resources: [this.stream.streamArn],
      }),
    );
    this.stream.encryptionKey?.grantDecrypt(fn);
    this.eventBus.grantPutEventsTo(fn);
    this.failureCounterFn = fn;
    return fn;
  }

  private grantLeastPrivilege(table: dynamodb.ITable): void {
    const fn = this.function;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Scan', 'dynamodb:DescribeTable'],
        resources: [table.tableArn],
      }),
    );
    table.encryptionKey?.grantDecrypt(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kinesis:PutRecords', 'kinesis:DescribeStreamSummary'],
        resources: [this.stream.streamArn],
      }),
    );
    // A producer of a stream encrypted with a customer managed key needs only kms:GenerateDataKey
    // (Kinesis Data Streams developer guide); grantEncrypt would add kms:Encrypt and kms:ReEncrypt*.
    this.stream.encryptionKey?.grant(fn, 'kms:GenerateDataKey');
    this.eventBus.grantPutEventsTo(fn);
    const checkpoints = `${this.parameter.parameterArn}/*`;
    // The stack's own parameter is only read: a stack update that puts its value back cannot
    // meet state the scanner wrote there.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter', 'ssm:GetParameters'],
        resources: [this.parameter.parameterArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        // GetParameters: the scan, its stop request and a chain's checkpoint in one read.
        // GetParameterHistory: the scan record's kept versions, for `history`.
        actions: [
          'ssm:GetParameter',
          'ssm:GetParameters',
          'ssm:PutParameter',
          'ssm:GetParametersByPath',
          'ssm:GetParameterHistory',
          'ssm:DeleteParameters',
        ],
        resources: [checkpoints],
      }),
    );
    const policy = fn.role?.node.tryFindChild('DefaultPolicy');
    if (policy === undefined) throw new Error('The scanner function role has no default policy.');
    acknowledgeNagFinding(
      policy,
      `AwsSolutions-IAM5[Resource::${nagResourceName(this, checkpoints)}]`,
      'The scanner writes its scan record (<root>/scan), one checkpoint parameter per chain (<root>/segment/<n>, up to 1,000), start and completion ' +
        'claims (<root>/start/<scan>/<n>, <root>/completion/<scan>/<n>) whose names are only known at run time, all under the path of its own ' +
        'root parameter. The wildcard is that path: it matches no parameter outside this scanner, and the actions are ' +
        'only Get, Put, GetParametersByPath, GetParameterHistory and Delete.',
    );
    // Invoke itself, in a policy of its own: granting through the role's default policy (as
    // fn.grantInvoke(fn) does) makes the function depend on its own ARN, a dependency cycle.
    const role = fn.role;
    if (role === undefined) throw new Error('The scanner function has no role.');
    new iam.Policy(this, 'SelfInvokePolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
      ],
    });
  }
}

/** A segment is stalled when its heartbeat is older than the function's timeout plus a minute. */
function stalledAfter(timeout: Duration): number {
  const seconds = Token.isUnresolved(timeout.toSeconds()) ? MAX_TIMEOUT_SECONDS : timeout.toSeconds();
  return (seconds + 60) * 1000;
}

function validate(
  timeout: Duration,
  handoff: Duration,
  pageSize: number | undefined,
  watchdogInterval: Duration,
): void {
  const watchdogMinutes = watchdogInterval.toMinutes({ integral: false });
  if (!Token.isUnresolved(watchdogMinutes) && watchdogMinutes < 1) {
    throw new Error(
      `Invalid watchdogInterval: expected at least 1 minute (EventBridge schedules), received ${watchdogMinutes} minutes.`,
    );
  }
  const timeoutSeconds = timeout.toSeconds();
  if (!Token.isUnresolved(timeoutSeconds) && (timeoutSeconds < 60 || timeoutSeconds > MAX_TIMEOUT_SECONDS)) {
    throw new Error(
      `Invalid timeout: expected 60 to ${MAX_TIMEOUT_SECONDS} seconds, received ${timeoutSeconds}.`,
    );
  }
  const handoffSeconds = handoff.toSeconds({ integral: false });
  const maxHandoff = Token.isUnresolved(timeoutSeconds) ? MAX_TIMEOUT_SECONDS / 2 : timeoutSeconds / 2;
  if (handoffSeconds < 5 || handoffSeconds > maxHandoff) {
    throw new Error(
      `Invalid handoffThreshold: expected 5 seconds to half the timeout (${maxHandoff} s), received ${handoffSeconds} s.`,
    );
  }
  if (pageSize !== undefined && (!Number.isInteger(pageSize) || pageSize < 1)) {
    throw new Error(`Invalid pageSize: expected a whole number of at least 1, received ${pageSize}.`);
  }
}

/** Unique per construct path (ids in different scopes do not collide); SSM names allow `a-zA-Z0-9_.-/`. */
function defaultParameterName(scope: Construct): string {
  return `/ddbscan/${scope.node.path.replace(/[^a-zA-Z0-9_.\-/]/g, '-')}`;
}

/** Each chain, its overlap at a hand-off, and room for status, stop and watchdog calls. */
export function reservedConcurrencyFor(concurrency: number): number {
  return 2 * concurrency + 10;
}
