import * as path from 'node:path';
import { Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import {
  INITIAL_ROOT_PARAMETER_VALUE,
  MAX_CONCURRENCY,
  ScannerDefaults,
  ScannerEnv,
  ScannerMetrics,
} from '../lambda/contract';
import { createFunctionRole } from './function-role';
import { acknowledgeNagFinding, nagResourceName } from './nag';
import { acknowledgeRuntime, BUNDLE_TARGET, FUNCTION_RUNTIME } from './runtime';

/** Lambda: a function runs at most 900 s. */
const MAX_TIMEOUT_SECONDS = 900;

/**
 * The throttling alarm fires when more than this percentage of the PutRecords entries the scanner
 * sent were refused, in each of `THROTTLING_PERIODS` consecutive 5-minute periods. Refused entries
 * are resent, so brief throttling (an on-demand stream scaling up, a burst at start) costs only
 * retries; a quarter of an hour above a fifth means the scan runs at the stream's write limit.
 */
const THROTTLED_PERCENT_THRESHOLD = 20;
const THROTTLING_PERIODS = 3;

/** SQS3 asks every queue for a dead-letter queue; these queues are themselves where failures end. */
const FAILED_INVOCATIONS_NAG_REASON =
  "This queue is itself the dead-letter destination: the function's async on-failure destination, which receives " +
  'events that failed every retry. Nothing consumes it, so a DLQ behind it would never receive anything. It keeps ' +
  'messages 14 days and an alarm fires while it holds one.';
const CONSUMER_FAILURES_NAG_REASON =
  "This queue is itself the dead-letter destination: the consumer's event source mapping on-failure destination, " +
  'which receives the description of a batch that failed every retry. Nothing consumes it, so a DLQ behind it ' +
  'would never receive anything. It keeps messages 14 days.';

/** The scanner's metric names (EMF, namespace `ScannerMetrics.namespace`). */
export type ScannerMetricName = (typeof ScannerMetrics)[Exclude<
  keyof typeof ScannerMetrics,
  'namespace' | 'service'
>];

/** How a consumer reads the stream; every option has a default suited to a backfill. */
export interface ScanConsumerOptions {
  /** Records per invocation. @default 100 */
  readonly batchSize?: number;
  /** Wait up to this long to fill a batch. @default Duration.seconds(1) */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent batches per shard (1 to 10); records of one item stay in order. @default 2 */
  readonly parallelizationFactor?: number;
  /** Retries of a failing batch before its records go to the failure queue. @default 3 */
  readonly retryAttempts?: number;
  /** Split a failing batch in two to isolate the bad record. @default true */
  readonly bisectBatchOnError?: boolean;
  /** @default lambda.StartingPosition.TRIM_HORIZON: every record still in the stream */
  readonly startingPosition?: lambda.StartingPosition;
  /**
   * Where records that failed every retry are described.
   * @default - a new SQS queue, encrypted, TLS only, kept 14 days
   */
  readonly onFailure?: lambda.IEventSourceDlq;
}

/** What `addConsumer` created. */
export interface ScanConsumer {
  readonly eventSource: sources.KinesisEventSource;
  /** The failure queue, when `addConsumer` created one. */
  readonly failureQueue?: sqs.Queue;
  /** In alarm while `failureQueue` holds a message (notifying the alarm topic, if any). */
  readonly failureAlarm?: cloudwatch.Alarm;
}

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
   * Least time between two checkpoint writes of a segment (SSM PutParameter allows about 3
   * writes per second per account). A crash repeats at most this much work.
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
  /** In alarm while `failedInvocations` holds a message. */
  readonly failedInvocationsAlarm: cloudwatch.Alarm;
  /** In alarm when an invocation of the function ended with an error in the last 5 minutes. */
  readonly errorsAlarm: cloudwatch.Alarm;
  /** In alarm when the watchdog relaunched a stalled segment in the last 5 minutes. */
  readonly stalledSegmentsAlarm: cloudwatch.Alarm;
  /** In alarm when Kinesis refused more than 20% of the scanner's records for 15 minutes. */
  readonly throttlingAlarm: cloudwatch.Alarm;
  /** In alarm when a scan ended FAILED in the last 5 minutes. */
  readonly scansFailedAlarm: cloudwatch.Alarm;
  /** Every alarm above, in that order. */
  readonly alarms: readonly cloudwatch.Alarm[];
  private readonly alarmTopic: sns.ITopic | undefined;
  /** The scanner's dashboard, unless `dashboard: false`. */
  readonly dashboard?: cloudwatch.Dashboard;
  /** The schedule that sends `{"action":"watchdog"}`. */
  readonly watchdog: events.Rule;

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
    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(__dirname, '..', 'lambda', 'handlers', 'scanner.ts'),
      handler: 'handler',
      runtime: FUNCTION_RUNTIME,
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
      bundling: {
        // Bundle the SDK too: the function runs the versions the tests ran.
        externalModules: [],
        format: OutputFormat.CJS,
        minify: true,
        // Error class names are the contract callers see (`errorType`: ValidationError, …).
        keepNames: true,
        sourceMap: true,
        target: BUNDLE_TARGET,
      },
      depsLockFilePath: path.join(__dirname, '..', 'package-lock.json'),
      projectRoot: path.join(__dirname, '..'),
    });
    acknowledgeRuntime(this.function);

    this.grantLeastPrivilege(props.table);

    // Every description names the commands that fix it, with this scanner's function and region
    // filled in. `--no-install`: the package is not published, and outside a checkout of this
    // repository npx would fetch whatever npm package has the name.
    const functionFlag = functionFlagOf(this);
    const fiveMinutes = Duration.minutes(5);

    this.failedInvocationsAlarm = this.failedInvocations
      .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
      .createAlarm(this, 'FailedInvocationsAlarm', {
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'A scanner invocation (a segment chain, a hand-off or the watchdog) failed after Lambda retried it twice; ' +
          `its event and error are in the queue ${this.failedInvocations.queueName}. That segment's chain stopped; the watchdog ` +
          `relaunches it once its checkpoint is stale. Look at: npx --no-install ddbscan status ${functionFlag} (stalled or failed segments), ` +
          'the function logs ("invocation failed"), and the messages (aws sqs receive-message). Fix the cause, then ' +
          `npx --no-install ddbscan resume ${functionFlag} relaunches stalled segments at once. Purge the queue when done (aws sqs purge-queue): ` +
          'the alarm stays on while a message is in it.',
      });

    this.errorsAlarm = this.function
      .metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'ErrorsAlarm', {
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'An invocation of the scanner function ended with an error in the last 5 minutes. Rejected requests count ' +
          'too (an invalid start option returns a ValidationError to its caller). A chain that failed is retried twice ' +
          'by Lambda from its checkpoint; if the retries fail too, the FailedInvocations alarm follows. Look at the ' +
          `function logs ("invocation failed", with the action and error) and npx --no-install ddbscan status ${functionFlag}. A transient ` +
          `error needs nothing; a scan that ended FAILED continues with npx --no-install ddbscan resume ${functionFlag} once the cause is fixed.`,
      });

    this.stalledSegmentsAlarm = this.metric(ScannerMetrics.segmentsStalled, {
      period: fiveMinutes,
      statistic: cloudwatch.Stats.SUM,
    }).createAlarm(this, 'StalledSegmentsAlarm', {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'The watchdog found a running segment whose checkpoint had not moved for the function timeout plus a minute ' +
        '(its chain died: a lost hand-off, a crash, or an event that failed every retry) and relaunched it from its ' +
        'checkpoint. One relaunch is the recovery working; repeated ones mean the chain keeps dying. Look at: ' +
        `npx --no-install ddbscan status ${functionFlag} (segments running and stalled), the FailedInvocations queue and the function logs. ` +
        `npx --no-install ddbscan resume ${functionFlag} relaunches stalled segments at once; npx --no-install ddbscan stop ${functionFlag} halts the scan at its ` +
        'checkpoints while you investigate.',
    });

    const throttledPercent = this.throttledPercent(fiveMinutes);
    this.throttlingAlarm = throttledPercent.createAlarm(this, 'ThrottlingAlarm', {
      threshold: THROTTLED_PERCENT_THRESHOLD,
      evaluationPeriods: THROTTLING_PERIODS,
      datapointsToAlarm: THROTTLING_PERIODS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        `Kinesis refused more than ${THROTTLED_PERCENT_THRESHOLD}% of the records the scanner sent (throttled or ` +
        `InternalFailure) for ${5 * THROTTLING_PERIODS} minutes (${THROTTLING_PERIODS} 5-minute periods in a row). Nothing is lost (refused records ` +
        'are resent), but the scan runs at the stream write limit, slowing it and any other producer on the stream. ' +
        "Look at the dashboard's stream throughput and WriteProvisionedThroughputExceeded. Raise the stream capacity " +
        '(provisioned: aws kinesis update-shard-count; on-demand adapts to a new peak by itself), or pause with ' +
        `npx --no-install ddbscan stop ${functionFlag} and continue later with npx --no-install ddbscan resume ${functionFlag}.`,
    });

    this.scansFailedAlarm = this.metric(ScannerMetrics.scansFailed, {
      period: fiveMinutes,
      statistic: cloudwatch.Stats.SUM,
    }).createAlarm(this, 'ScansFailedAlarm', {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'A scan ended FAILED: a non-retryable error (access denied, a missing table or stream, an invalid request, ' +
        'an item whose record exceeds 1 MiB, or a page Kinesis kept refusing through 3 invocations). ' +
        `npx --no-install ddbscan status ${functionFlag} shows the error. Fix the cause (permissions, the stream, the item), then ` +
        `npx --no-install ddbscan resume ${functionFlag} continues from the checkpoints; npx --no-install ddbscan start ${functionFlag} starts a new scan instead.`,
    });

    this.alarms = [
      this.failedInvocationsAlarm,
      this.errorsAlarm,
      this.stalledSegmentsAlarm,
      this.throttlingAlarm,
      this.scansFailedAlarm,
    ];
    this.alarmTopic = props.alarmTopic;
    for (const alarm of this.alarms) this.notify(alarm);

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

    if (props.dashboard ?? true) this.dashboard = this.createDashboard(throttledPercent);
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
   * The percentage of the PutRecords entries sent that Kinesis refused: throttled / (put + throttled).
   * Measured by the scanner, so it works the same for a stream the construct created and one it was
   * given, and counts only this scanner's writes. A period without writes has no value (0/0), so an
   * idle scanner is never in alarm.
   */
  private throttledPercent(period: Duration): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: '100 * FILL(throttled, 0) / (FILL(put, 0) + FILL(throttled, 0))',
      usingMetrics: {
        throttled: this.metric(ScannerMetrics.recordsThrottled, { period }),
        put: this.metric(ScannerMetrics.recordsPut, { period }),
      },
      label: 'Records refused by Kinesis (%)',
      period,
    });
  }

  private createDashboard(throttledPercent: cloudwatch.MathExpression): cloudwatch.Dashboard {
    const minute = Duration.minutes(1);
    const perMinute = (metricName: ScannerMetricName, label: string) =>
      this.metric(metricName, { period: minute, label });
    const stream = (metric: cloudwatch.Metric, label: string) =>
      metric.with({ period: minute, statistic: cloudwatch.Stats.SUM, label });
    const fnName = this.function.functionName;
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        width: 24,
        height: 2,
        markdown:
          `### dynamodb-kinesis-scanner: ${fnName} → ${this.stream.streamName}\n` +
          `\`npx --no-install ddbscan status --function ${fnName} --watch\` · \`ddbscan stop\` · \`ddbscan resume\`. ` +
          'Each alarm says what it means and what to do; the README (Operations) has the runbook.',
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms], width: 24, height: 3 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Scan progress (per minute)',
        left: [
          perMinute(ScannerMetrics.itemsScanned, 'Items scanned'),
          perMinute(ScannerMetrics.recordsPut, 'Records put'),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Hand-offs and checkpoint writes (per minute)',
        left: [
          perMinute(ScannerMetrics.handOffs, 'Hand-offs'),
          perMinute(ScannerMetrics.checkpointWrites, 'Checkpoint writes'),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Stream writes: records per minute (all producers, and the scanner)',
        left: [
          stream(this.stream.metricIncomingRecords(), 'IncomingRecords (stream)'),
          perMinute(ScannerMetrics.recordsPut, 'Records put (scanner)'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stream writes: bytes per minute (all producers, and the scanner)',
        left: [
          stream(this.stream.metricIncomingBytes(), 'IncomingBytes (stream)'),
          perMinute(ScannerMetrics.bytesPut, 'Bytes put (scanner)'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Throttling (per minute)',
        left: [
          perMinute(ScannerMetrics.recordsThrottled, 'Records refused and resent (scanner)'),
          stream(
            this.stream.metricWriteProvisionedThroughputExceeded(),
            'WriteProvisionedThroughputExceeded',
          ),
        ],
        right: [throttledPercent.with({ period: minute })],
        rightYAxis: { min: 0, max: 100, label: '%', showUnits: false },
        rightAnnotations: [
          { value: THROTTLED_PERCENT_THRESHOLD, label: `alarm threshold (${THROTTLING_PERIODS} × 5 min)` },
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Function invocations (per minute)',
        left: [
          this.function.metricInvocations({ period: minute, statistic: cloudwatch.Stats.SUM }),
          this.function.metricErrors({ period: minute, statistic: cloudwatch.Stats.SUM }),
          this.function.metricThrottles({ period: minute, statistic: cloudwatch.Stats.SUM }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Function duration',
        left: [
          this.function.metricDuration({ period: minute, statistic: cloudwatch.Stats.AVERAGE }),
          this.function.metricDuration({ period: minute, statistic: cloudwatch.Stats.MAXIMUM }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Concurrent executions (chains, two while one hands off)',
        left: [
          this.function.metric('ConcurrentExecutions', {
            period: minute,
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Failed invocations queue (messages)',
        left: [
          this.failedInvocations.metricApproximateNumberOfMessagesVisible({
            period: minute,
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Segments relaunched by the watchdog, scans failed (per 5 minutes)',
        left: [
          this.metric(ScannerMetrics.segmentsStalled, {
            period: Duration.minutes(5),
            label: 'Segments stalled',
          }),
          this.metric(ScannerMetrics.scansFailed, { period: Duration.minutes(5), label: 'Scans failed' }),
        ],
        width: 8,
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Longest completed scan in the time range',
        metrics: [
          this.metric(ScannerMetrics.scanDuration, {
            statistic: cloudwatch.Stats.MAXIMUM,
            label: 'Scan duration',
          }),
        ],
        setPeriodToTimeRange: true,
        width: 8,
      }),
    );
    return dashboard;
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
    const parallelizationFactor = options.parallelizationFactor ?? 2;
    if (!Number.isInteger(parallelizationFactor) || parallelizationFactor < 1 || parallelizationFactor > 10) {
      throw new Error(`Invalid parallelizationFactor: expected 1 to 10, received ${parallelizationFactor}.`);
    }
    let failureQueue: sqs.Queue | undefined;
    let failureAlarm: cloudwatch.Alarm | undefined;
    let onFailure = options.onFailure;
    if (onFailure === undefined) {
      const id = `ConsumerFailures${Names.uniqueId(consumer)}`;
      // A function attached twice gets a queue per attachment.
      const unique = this.node.tryFindChild(id) === undefined ? id : `${id}${this.node.children.length}`;
      failureQueue = new sqs.Queue(this, unique, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      acknowledgeNagFinding(failureQueue, 'AwsSolutions-SQS3', CONSUMER_FAILURES_NAG_REASON);
      onFailure = new sources.SqsDlq(failureQueue);
      failureAlarm = failureQueue
        .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
        .createAlarm(this, `${unique}Alarm`, {
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription:
            `A batch of scan records failed every retry of the consumer ${consumer.functionName}; the queue ` +
            `${failureQueue.queueName} holds its description (shard and sequence numbers), not the records. Look at the ` +
            "consumer's logs and the messages (aws sqs receive-message). Fix the consumer, then either read those records " +
            'again from the stream while it keeps them (24 hours by default), or run the scan again (npx --no-install ' +
            `ddbscan start --restart ${functionFlagOf(this)}): consumers deduplicate on the record's eventID. Purge the ` +
            'queue when done (aws sqs purge-queue): the alarm stays on while a message is in it.',
        });
      this.notify(failureAlarm);
    }
    const eventSource = new sources.KinesisEventSource(this.stream, {
      startingPosition: options.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON,
      batchSize: options.batchSize ?? 100,
      maxBatchingWindow: options.maxBatchingWindow ?? Duration.seconds(1),
      parallelizationFactor,
      retryAttempts: options.retryAttempts ?? 3,
      bisectBatchOnError: options.bisectBatchOnError ?? true,
      reportBatchItemFailures: true,
      onFailure,
    });
    consumer.addEventSource(eventSource);
    return { eventSource, failureQueue, failureAlarm };
  }

  /** Sends an alarm's ALARM and OK to the alarm topic, if there is one. */
  private notify(alarm: cloudwatch.Alarm): void {
    if (this.alarmTopic === undefined) return;
    const action = new cloudwatchActions.SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
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
        actions: [
          'ssm:GetParameter',
          'ssm:GetParameters',
          'ssm:PutParameter',
          'ssm:GetParametersByPath',
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
        'only Get, Put, GetParametersByPath and Delete.',
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

/** The `ddbscan` flags that name a scanner: its function and region. */
function functionFlagOf(scanner: DynamoDbKinesisScanner): string {
  return `--function ${scanner.function.functionName} --region ${Stack.of(scanner).region}`;
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
