import { Duration, Names, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ConsumerEnv, ConsumerMetrics, ScannerMetrics } from '../lambda/contract';
import type { DynamoDbKinesisScanner } from './dynamodb-kinesis-scanner';
import { acknowledgeNagFinding } from './nag';
import { CLI, functionFlagOf } from './scanner-monitoring';

/** SQS3 asks every queue for a dead-letter queue; this queue is itself where failures end. */
const CONSUMER_FAILURES_NAG_REASON =
  "This queue is itself the dead-letter destination: the consumer's event source mapping on-failure destination, " +
  'which receives the description of a batch that failed every retry. Nothing consumes it, so a DLQ behind it ' +
  'would never receive anything. It keeps messages 14 days.';

/** How a consumer reads the stream; every option has a default suited to a backfill. */
export interface ScanConsumerOptions {
  /** Records per invocation. @default 100 */
  readonly batchSize?: number;
  /** Wait up to this long to fill a batch. @default Duration.seconds(1) */
  readonly maxBatchingWindow?: Duration;
  /**
   * Concurrent batches per shard (1 to 10); records of one item stay in order. With
   * `trackProgress` it must be 1. @default 2, or 1 with `trackProgress`
   */
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
  /**
   * Count, per scan, the distinct records the consumer processed, show them in `status`, and
   * publish one "Scan Processed" event when it has processed every record of a completed scan.
   * For a consumer built with `createConsumerHandler`; the function must be a `lambda.Function`
   * (its environment is set). Costs about 2 DynamoDB write units per record ($1.25 per million
   * on demand in us-east-1) in the scanner's progress table.
   * @default false
   */
  readonly trackProgress?: boolean;
  /**
   * With `trackProgress`: alarm when the consumer has counted no record for this long while the
   * stream holds records it has not processed (its iterator age is above zero).
   * @default Duration.minutes(15)
   */
  readonly stalledAfter?: Duration;
}

/** What `addConsumer` created. */
export interface ScanConsumer {
  readonly eventSource: sources.KinesisEventSource;
  /** The failure queue, when `addConsumer` created one. */
  readonly failureQueue?: sqs.Queue;
  /** In alarm while `failureQueue` holds a message (notifying the alarm topic, if any). */
  readonly failureAlarm?: cloudwatch.Alarm;
  /** With `trackProgress`: the scanner's progress table, shared by its tracked consumers. */
  readonly progressTable?: dynamodb.Table;
  /** With `trackProgress`: in alarm while the consumer makes no progress and records remain. */
  readonly stalledAlarm?: cloudwatch.Alarm;
}

/**
 * Attaches a consumer Lambda to the scanner's stream (see `DynamoDbKinesisScanner.addConsumer`).
 * The failure queue and its alarm are the scanner's children, one pair per attachment.
 */
export function attachConsumer(
  scanner: DynamoDbKinesisScanner,
  consumer: lambda.IFunction,
  options: ScanConsumerOptions = {},
): ScanConsumer {
  if (options.trackProgress === true && options.onFailure !== undefined) {
    throw new Error(
      `Invalid trackProgress for ${consumer.node.path}: failed records are counted from the failure queue addConsumer creates, so onFailure must be left unset, received an onFailure destination.`,
    );
  }
  if (options.trackProgress === true && !(consumer instanceof lambda.Function)) {
    throw new Error(
      `Invalid trackProgress for ${consumer.node.path}: expected a lambda.Function (its environment names the progress table), received an imported function.`,
    );
  }
  const stalledAfter = options.stalledAfter?.toSeconds();
  if (stalledAfter !== undefined && stalledAfter < 60) {
    throw new Error(
      `Invalid stalledAfter: expected at least 1 minute, received ${options.stalledAfter?.toHumanString()}.`,
    );
  }
  const parallelizationFactor = options.parallelizationFactor ?? (options.trackProgress === true ? 1 : 2);
  if (!Number.isInteger(parallelizationFactor) || parallelizationFactor < 1 || parallelizationFactor > 10) {
    throw new Error(`Invalid parallelizationFactor: expected 1 to 10, received ${parallelizationFactor}.`);
  }
  if (options.trackProgress === true && parallelizationFactor !== 1) {
    // With more lanes, a failed batch's sequence range also holds other lanes' records in flight.
    throw new Error(
      `Invalid parallelizationFactor with trackProgress: expected 1 (then a failed batch's range holds only its own records, so failures are counted exactly), received ${parallelizationFactor}.`,
    );
  }
  let failureQueue: sqs.Queue | undefined;
  let failureAlarm: cloudwatch.Alarm | undefined;
  let onFailure = options.onFailure;
  if (onFailure === undefined) {
    const id = `ConsumerFailures${Names.uniqueId(consumer)}`;
    // A function attached twice gets a queue per attachment.
    const unique = scanner.node.tryFindChild(id) === undefined ? id : `${id}${scanner.node.children.length}`;
    failureQueue = new sqs.Queue(scanner, unique, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // Six times the failure counter's timeout, as AWS advises for a queue a function consumes.
      visibilityTimeout: Duration.minutes(6),
    });
    acknowledgeNagFinding(failureQueue, 'AwsSolutions-SQS3', CONSUMER_FAILURES_NAG_REASON);
    onFailure = new sources.SqsDlq(failureQueue);
    failureAlarm =
      (options.trackProgress === true
        ? failedRecordsAlarm(scanner, consumer, failureQueue, `${unique}Alarm`)
        : undefined) ??
      failureQueue
        .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
        .createAlarm(scanner, `${unique}Alarm`, {
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription:
            `A batch of scan records failed every retry of the consumer ${consumer.functionName}; the queue ` +
            `${failureQueue.queueName} holds its description (shard and sequence numbers), not the records. Look at the ` +
            "consumer's logs and the messages (aws sqs receive-message). Fix the consumer, then either read those records " +
            'again from the stream while it keeps them (24 hours by default), or run the scan again (' +
            `${CLI} start --restart ${functionFlagOf(scanner.function)}): consumers deduplicate on the record's eventID. Purge the ` +
            'queue when done (aws sqs purge-queue): the alarm stays on while a message is in it.',
        });
    scanner.monitoring.notify(failureAlarm);
  }
  const eventSource = new sources.KinesisEventSource(scanner.stream, {
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
  const tracked = options.trackProgress === true && consumer instanceof lambda.Function;
  const progressTable = tracked ? trackProgress(scanner, consumer, failureQueue) : undefined;
  const stalledAlarm = tracked ? consumerStalledAlarm(scanner, consumer, options.stalledAfter) : undefined;
  if (stalledAlarm) scanner.monitoring.notify(stalledAlarm);
  return { eventSource, failureQueue, failureAlarm, progressTable, stalledAlarm };
}

const PROGRESS_TABLE_NAG_REASON =
  "The table holds only the consumers' progress counters and per-record markers, which expire through TTL after " +
  '400 days; they can be counted again from the stream. Restoring them is never wanted.';

/**
 * Sets the consumer up to count its records in the scanner's progress table (created with the
 * first tracked consumer) and publish "Scan Processed"; the scanner reads the counts for
 * `status` and records each scan's total at completion. Least privilege on both sides.
 */
function trackProgress(
  scanner: DynamoDbKinesisScanner,
  consumer: lambda.Function,
  failureQueue: sqs.Queue | undefined,
): dynamodb.Table {
  const table = scanner.progressTable();
  consumer.addEnvironment(ConsumerEnv.progressTable, table.tableName);
  consumer.addEnvironment(ConsumerEnv.eventBusName, scanner.eventBus.eventBusName);
  // TransactWriteItems is authorized per action: Put and Update on the markers and counters.
  consumer.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
      resources: [table.tableArn],
    }),
  );
  scanner.eventBus.grantPutEventsTo(consumer);
  // The consumer's name at run time is its function name (AWS_LAMBDA_FUNCTION_NAME).
  scanner.trackConsumer(consumer.functionName, failureQueue);
  return table;
}

/**
 * A tracked consumer that counted no record for `stalledAfter` while its event source mapping
 * still reads records behind the stream's tip (iterator age above zero): stuck on a batch that
 * keeps failing, or throttled to nothing.
 */
function consumerStalledAlarm(
  scanner: DynamoDbKinesisScanner,
  consumer: lambda.Function,
  stalledAfter: Duration = Duration.minutes(15),
): cloudwatch.Alarm {
  // Alarm periods are whole minutes.
  const minutes = Math.max(1, Math.round(stalledAfter.toSeconds() / 60));
  if (minutes < 1) {
    throw new Error(
      `Invalid stalledAfter: expected at least 1 minute, received ${stalledAfter.toHumanString()}.`,
    );
  }
  const period = Duration.minutes(minutes);
  const expression = new cloudwatch.MathExpression({
    // 1 while records remain (the mapping reports an iterator age) and none was counted.
    expression: 'IF(age > 0 AND FILL(processed, 0) == 0, 1, 0)',
    usingMetrics: {
      age: consumer.metric('IteratorAge', { statistic: 'Maximum', period }),
      processed: new cloudwatch.Metric({
        namespace: ScannerMetrics.namespace,
        metricName: ConsumerMetrics.recordsProcessed,
        dimensionsMap: {
          service: ScannerMetrics.service,
          [ConsumerMetrics.consumerDimension]: consumer.functionName,
        },
        statistic: cloudwatch.Stats.SUM,
        period,
      }),
    },
    period,
    label: 'stalled (records remain, none processed)',
  });
  const id = `ConsumerStalled${Names.uniqueId(consumer)}`;
  // A function attached twice gets an alarm per attachment.
  const unique = scanner.node.tryFindChild(id) === undefined ? id : `${id}${scanner.node.children.length}`;
  return expression.createAlarm(scanner, unique, {
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription:
      `The consumer ${consumer.functionName} processed no record for ${minutes} minutes while the stream holds ` +
      `records it has not read (its iterator age is above zero). \`${CLI} status ${functionFlagOf(scanner.function)}\` shows ` +
      'its counts and lag. Look at its logs: a batch that keeps failing (a retry limit of -1 retries it forever), ' +
      'throttling, or a downstream outage.',
  });
}

/**
 * With `trackProgress`, the failure counter drains the failure queue, so the alarm watches the
 * records it counted failed instead of the queue's messages.
 */
function failedRecordsAlarm(
  scanner: DynamoDbKinesisScanner,
  consumer: lambda.IFunction,
  failureQueue: sqs.Queue,
  id: string,
): cloudwatch.Alarm {
  return new cloudwatch.Metric({
    namespace: ScannerMetrics.namespace,
    metricName: ConsumerMetrics.recordsFailed,
    dimensionsMap: {
      service: ScannerMetrics.service,
      [ConsumerMetrics.consumerDimension]: consumer.functionName,
    },
    statistic: cloudwatch.Stats.SUM,
    period: Duration.minutes(5),
  }).createAlarm(scanner, id, {
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription:
      `Records of a scan failed every retry of the consumer ${consumer.functionName}: the failure counter read them ` +
      `back from the stream (queue ${failureQueue.queueName}) and counted them failed. \`${CLI} status\` shows how many. ` +
      "Look at the consumer's logs, fix it, then run the scan again (" +
      `${CLI} start --restart ${functionFlagOf(scanner.function)}): consumers deduplicate on the record's eventID.`,
  });
}

/** The scanner's progress table: `pk`/`sk`, TTL `expiresAt`, and the sparse index of failed records. */
export function createProgressTable(scanner: DynamoDbKinesisScanner): dynamodb.Table {
  const table = new dynamodb.Table(scanner, 'ConsumerProgress', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    timeToLiveAttribute: 'expiresAt',
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  table.addGlobalSecondaryIndex({
    indexName: 'failed',
    partitionKey: { name: 'failedOf', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'failedAt', type: dynamodb.AttributeType.NUMBER },
  });
  acknowledgeNagFinding(table, 'AwsSolutions-DDB3', PROGRESS_TABLE_NAG_REASON);
  return table;
}
