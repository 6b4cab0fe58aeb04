import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ConsumerEnv } from '../lambda/contract';
import { AlarmTopic } from './alarm-topic';
import { createBundledFunction } from './bundled-function';
import { DynamoDbKinesisScanner } from './dynamodb-kinesis-scanner';
import { createFunctionRole } from './function-role';
import { acknowledgeNagFinding } from './nag';

const TABLE_EXAMPLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/Orders';
const STREAM_EXAMPLE = 'arn:aws:kinesis:us-east-1:123456789012:stream/orders-backfill';
const EMAIL_EXAMPLE = 'ops@example.com';
const TOPIC_EXAMPLE = 'arn:aws:sns:us-east-1:123456789012:ops-alarms';
const TABLE_ARN = /^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/[A-Za-z0-9_.-]{3,255}$/;
const STREAM_ARN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/[A-Za-z0-9_.-]{1,128}$/;
// A standard topic: CloudWatch alarm actions cannot publish to a FIFO topic.
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export interface ScannerStackProps extends StackProps {
  /** ARN of the table to scan, e.g. `arn:aws:dynamodb:us-east-1:123456789012:table/Orders`. */
  readonly tableArn: string;
  /**
   * ARN of an existing stream to write to.
   * @default - a new on-demand stream with AWS managed encryption
   */
  readonly streamArn?: string;
  /**
   * Deploy the example consumer (Powertools batch processing, idempotent on the record id) on
   * the stream, with its idempotency table.
   * @default false
   */
  readonly exampleConsumer?: boolean;
  /**
   * Subscribe this address to a new encrypted topic that receives every alarm (ALARM and OK).
   * Not with `alarmTopicArn`.
   * @default - the `alarmEmail` context value when neither alarm prop is given, else no topic
   */
  readonly alarmEmail?: string;
  /**
   * Send every alarm (ALARM and OK) to this existing standard topic in the table's region. Its
   * policy must let CloudWatch publish, and its KMS key (if any) must let CloudWatch use it.
   * Not with `alarmEmail`.
   * @default - the `alarmTopicArn` context value when neither alarm prop is given, else no topic
   */
  readonly alarmTopicArn?: string;
}

/** The deployable app: the scanner construct wired from context, with its outputs. */
export class ScannerStack extends Stack {
  readonly scanner: DynamoDbKinesisScanner;

  /** The topic that receives the alarms, when `alarmEmail` or `alarmTopicArn` is given. */
  readonly alarmTopic?: sns.ITopic;

  constructor(scope: Construct, id: string, props: ScannerStackProps) {
    super(scope, id, props);
    const table = dynamodb.Table.fromTableArn(this, 'Table', props.tableArn);
    const stream =
      props.streamArn === undefined
        ? undefined
        : kinesis.Stream.fromStreamArn(this, 'ImportedStream', props.streamArn);
    // The alarm props, when either is given, else the context: the stack reads `-c alarmEmail=…`
    // itself, so it works whatever the app passes.
    const given: Record<string, unknown> = {
      alarmEmail: props.alarmEmail,
      alarmTopicArn: props.alarmTopicArn,
    };
    const fromProps = props.alarmEmail !== undefined || props.alarmTopicArn !== undefined;
    const alarms = readAlarmContext(
      (key) => (fromProps ? given[key] : this.node.tryGetContext(key)),
      props.tableArn.split(':')[3] ?? '',
    );
    if (alarms.alarmEmail !== undefined) {
      this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', { email: alarms.alarmEmail }).topic;
    } else if (alarms.alarmTopicArn !== undefined) {
      this.alarmTopic = sns.Topic.fromTopicArn(this, 'ImportedAlarmTopic', alarms.alarmTopicArn);
    }
    this.scanner = new DynamoDbKinesisScanner(this, 'Scanner', {
      table,
      stream,
      alarmTopic: this.alarmTopic,
    });

    new CfnOutput(this, 'FunctionName', {
      value: this.scanner.function.functionName,
      // As AWS CLI v2 takes it: without --cli-binary-format it reads the payload as base64.
      description:
        'Start a scan: aws lambda invoke --function-name <this> --cli-binary-format raw-in-base64-out ' +
        `--payload '{"action":"start"}' out.json`,
    });
    new CfnOutput(this, 'StreamName', { value: this.scanner.stream.streamName });
    new CfnOutput(this, 'StreamArn', { value: this.scanner.stream.streamArn });
    new CfnOutput(this, 'ParameterName', { value: this.scanner.parameter.parameterName });
    new CfnOutput(this, 'LogGroupName', { value: this.scanner.function.logGroup.logGroupName });
    new CfnOutput(this, 'FailedInvocationsQueueUrl', {
      value: this.scanner.failedInvocations.queueUrl,
      description: 'Async events that failed every retry: aws sqs receive-message --queue-url <this>',
    });
    const dashboard = this.scanner.dashboard;
    if (dashboard !== undefined) {
      new CfnOutput(this, 'DashboardName', { value: dashboard.dashboardName });
      new CfnOutput(this, 'DashboardUrl', {
        value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards/dashboard/${dashboard.dashboardName}`,
      });
    }
    if (this.alarmTopic !== undefined)
      new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });

    if (props.exampleConsumer) {
      const idempotency = new dynamodb.Table(this, 'ConsumerIdempotency', {
        partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
        timeToLiveAttribute: 'expiration',
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      acknowledgeNagFinding(
        idempotency,
        'AwsSolutions-DDB3',
        'The table holds only idempotency records (processed record ids) that expire through TTL; it is a cache, ' +
          'not data. Restoring it is never wanted, and losing it costs at most processing a record again, which an ' +
          'at-least-once consumer tolerates anyway.',
      );
      const consumerLogs = new logs.LogGroup(this, 'ExampleConsumerLogs', {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const consumer = createBundledFunction(this, 'ExampleConsumer', 'example-consumer', {
        architecture: lambda.Architecture.ARM_64,
        timeout: Duration.minutes(1),
        memorySize: 512,
        description: 'dynamodb-kinesis-scanner: example consumer of the scan stream',
        environment: { [ConsumerEnv.idempotencyTable]: idempotency.tableName },
        logGroup: consumerLogs,
        role: createFunctionRole(
          this,
          'ExampleConsumerRole',
          consumerLogs,
          'dynamodb-kinesis-scanner: example consumer of the scan stream',
        ),
      });
      idempotency.grantReadWriteData(consumer);
      this.scanner.addConsumer(consumer, { trackProgress: true });
      new CfnOutput(this, 'ExampleConsumerName', { value: consumer.functionName });
    }
  }
}

/** The stack's context, checked. */
export interface StackContext {
  readonly tableArn: string;
  readonly streamArn?: string;
  /** The table's region, where the stack deploys. */
  readonly region: string;
  /** `-c exampleConsumer=true`: deploy the example consumer. */
  readonly exampleConsumer: boolean;
  readonly alarmEmail?: string;
  readonly alarmTopicArn?: string;
}

/**
 * Reads and checks the app's context. A missing or malformed value fails synth with a message
 * that names the context key and shows an example.
 */
export function readStackContext(context: (key: string) => unknown): StackContext {
  const tableArn = context('tableArn');
  if (tableArn === undefined || tableArn === '') {
    throw new Error(`Missing context "tableArn": deploy with -c tableArn=${TABLE_EXAMPLE}`);
  }
  if (typeof tableArn !== 'string' || !TABLE_ARN.test(tableArn)) {
    throw new Error(
      `Invalid context "tableArn": expected a DynamoDB table ARN such as ${TABLE_EXAMPLE}, received ${JSON.stringify(tableArn)}.`,
    );
  }
  // The stack deploys in the table's region: the scanner's clients use the function's region.
  const region = tableArn.split(':')[3] ?? '';
  const streamArn = readStreamArn(context, region);
  return {
    tableArn,
    ...(streamArn === undefined ? {} : { streamArn }),
    region,
    exampleConsumer: readFlag(context, 'exampleConsumer'),
    ...readAlarmContext(context, region),
  };
}

/** A true/false context value (`-c name=true`, or a JSON boolean in cdk.json); absent is false. */
function readFlag(context: (key: string) => unknown, name: string): boolean {
  const value = context(name);
  if (value === undefined || value === '' || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new Error(`Invalid context "${name}": expected true or false, received ${JSON.stringify(value)}.`);
}

function readStreamArn(context: (key: string) => unknown, region: string): string | undefined {
  const streamArn = context('streamArn');
  if (streamArn === undefined || streamArn === '') return undefined;
  if (typeof streamArn !== 'string' || !STREAM_ARN.test(streamArn)) {
    throw new Error(
      `Invalid context "streamArn": expected a Kinesis stream ARN such as ${STREAM_EXAMPLE}, received ${JSON.stringify(streamArn)}.`,
    );
  }
  const streamRegion = streamArn.split(':')[3];
  if (streamRegion !== region) {
    throw new Error(
      `Invalid context "streamArn": expected a stream in the table's region ${region}, received one in ${streamRegion}.`,
    );
  }
  return streamArn;
}

/**
 * Reads and checks `alarmEmail` (a new encrypted topic with this subscription) and `alarmTopicArn`
 * (an existing topic in `region`, where the alarms are); at most one of them. Empty means absent.
 *
 * @example
 * readAlarmContext((key) => app.node.tryGetContext(key), 'us-east-1'); // { alarmEmail: 'ops@example.com' }
 */
export function readAlarmContext(
  context: (key: string) => unknown,
  region: string,
): { readonly alarmEmail?: string; readonly alarmTopicArn?: string } {
  const alarmEmail = context('alarmEmail');
  const alarmTopicArn = context('alarmTopicArn');
  const hasEmail = alarmEmail !== undefined && alarmEmail !== '';
  const hasTopic = alarmTopicArn !== undefined && alarmTopicArn !== '';
  if (hasEmail && hasTopic) {
    throw new Error(
      'Invalid context: give "alarmEmail" (a new topic, e.g. -c alarmEmail=ops@example.com) or "alarmTopicArn" ' +
        `(an existing topic, e.g. -c alarmTopicArn=${TOPIC_EXAMPLE}), not both.`,
    );
  }
  if (hasEmail) {
    if (typeof alarmEmail !== 'string' || !EMAIL.test(alarmEmail)) {
      throw new Error(
        `Invalid context "alarmEmail": expected an email address such as ${EMAIL_EXAMPLE}, received ${JSON.stringify(alarmEmail)}.`,
      );
    }
    return { alarmEmail };
  }
  if (hasTopic) {
    if (typeof alarmTopicArn !== 'string' || !TOPIC_ARN.test(alarmTopicArn)) {
      throw new Error(
        `Invalid context "alarmTopicArn": expected a standard SNS topic ARN such as ${TOPIC_EXAMPLE}, received ${JSON.stringify(alarmTopicArn)}.`,
      );
    }
    const topicRegion = alarmTopicArn.split(':')[3];
    if (topicRegion !== region) {
      // CloudWatch alarm actions publish to topics in the alarm's own region only.
      throw new Error(
        `Invalid context "alarmTopicArn": expected a topic in the table's region ${region} (where the alarms are), received one in ${topicRegion}.`,
      );
    }
    return { alarmTopicArn };
  }
  return {};
}
