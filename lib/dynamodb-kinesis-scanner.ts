import * as path from 'node:path';
import { Duration, Names, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
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
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { INITIAL_ROOT_PARAMETER_VALUE, ScannerDefaults, ScannerEnv } from '../lambda/contract';

/** Lambda: a function runs at most 900 s. */
const MAX_TIMEOUT_SECONDS = 900;

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
  /** The schedule that sends `{"action":"watchdog"}`. */
  readonly watchdog: events.Rule;

  constructor(scope: Construct, id: string, props: DynamoDbKinesisScannerProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.seconds(MAX_TIMEOUT_SECONDS);
    const handoff = props.handoffThreshold ?? Duration.millis(ScannerDefaults.handoffMs);
    const checkpointInterval =
      props.checkpointInterval ?? Duration.millis(ScannerDefaults.checkpointIntervalMs);
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

    this.parameter = new ssm.StringParameter(this, 'Parameter', {
      parameterName: props.parameterName ?? defaultParameterName(this),
      description:
        'dynamodb-kinesis-scanner: the current scan; segment checkpoints live under <name>/segment/',
      stringValue: INITIAL_ROOT_PARAMETER_VALUE,
    });

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(__dirname, '..', 'lambda', 'handlers', 'scanner.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      timeout,
      memorySize: props.memorySize ?? 1024,
      // The chain invokes itself once per hand-off: without ALLOW, Lambda's recursive loop
      // detection stops it after about 16 hops.
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.failedInvocations),
      description: 'dynamodb-kinesis-scanner: scans a table into a Kinesis stream as a self-chaining job',
      environment: {
        [ScannerEnv.tableName]: props.table.tableName,
        [ScannerEnv.streamName]: this.stream.streamName,
        [ScannerEnv.parameterName]: this.parameter.parameterName,
        [ScannerEnv.handoffMs]: String(handoff.toMilliseconds()),
        [ScannerEnv.checkpointIntervalMs]: String(checkpointInterval.toMilliseconds()),
        ...(props.pageSize === undefined ? {} : { [ScannerEnv.pageSize]: String(props.pageSize) }),
        [ScannerEnv.eventBusName]: this.eventBus.eventBusName,
        [ScannerEnv.stalledAfterMs]: String(stalledAfter(timeout)),
        NODE_OPTIONS: '--enable-source-maps',
      },
      logGroup: new logs.LogGroup(this, 'Logs', {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
      bundling: {
        // Bundle the SDK too: the function runs the versions the tests ran.
        externalModules: [],
        format: OutputFormat.CJS,
        minify: true,
        // Error class names are the contract callers see (`errorType`: ValidationError, …).
        keepNames: true,
        sourceMap: true,
        target: 'node22',
      },
      depsLockFilePath: path.join(__dirname, '..', 'package-lock.json'),
      projectRoot: path.join(__dirname, '..'),
    });

    this.grantLeastPrivilege(props.table);

    this.failedInvocationsAlarm = this.failedInvocations
      .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
      .createAlarm(this, 'FailedInvocationsAlarm', {
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'A scanner invocation failed after Lambda retried it twice; the event is in the FailedInvocations queue. ' +
          'Check `ddbscan status` (stalled or failed segments) and the function logs; `ddbscan resume` relaunches stalled segments.',
      });

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
      onFailure = new sources.SqsDlq(failureQueue);
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
    return { eventSource, failureQueue };
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
    this.stream.encryptionKey?.grantEncrypt(fn);
    this.eventBus.grantPutEventsTo(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:GetParametersByPath', 'ssm:DeleteParameters'],
        resources: [this.parameter.parameterArn, `${this.parameter.parameterArn}/*`],
      }),
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
