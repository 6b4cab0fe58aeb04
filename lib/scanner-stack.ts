import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { ConsumerEnv } from '../lambda/contract';
import { DynamoDbKinesisScanner } from './dynamodb-kinesis-scanner';

const TABLE_EXAMPLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/Orders';
const STREAM_EXAMPLE = 'arn:aws:kinesis:us-east-1:123456789012:stream/orders-backfill';
const TABLE_ARN = /^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/[A-Za-z0-9_.-]{3,255}$/;
const STREAM_ARN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/[A-Za-z0-9_.-]{1,128}$/;

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
}

/** The deployable app: the scanner construct wired from context, with its outputs. */
export class ScannerStack extends Stack {
  readonly scanner: DynamoDbKinesisScanner;

  constructor(scope: Construct, id: string, props: ScannerStackProps) {
    super(scope, id, props);
    const table = dynamodb.Table.fromTableArn(this, 'Table', props.tableArn);
    const stream =
      props.streamArn === undefined
        ? undefined
        : kinesis.Stream.fromStreamArn(this, 'ImportedStream', props.streamArn);
    this.scanner = new DynamoDbKinesisScanner(this, 'Scanner', { table, stream });

    new CfnOutput(this, 'FunctionName', {
      value: this.scanner.function.functionName,
      description: 'Start a scan: aws lambda invoke --function-name <this> --payload {"action":"start"}',
    });
    new CfnOutput(this, 'StreamName', { value: this.scanner.stream.streamName });
    new CfnOutput(this, 'StreamArn', { value: this.scanner.stream.streamArn });
    new CfnOutput(this, 'ParameterName', { value: this.scanner.parameter.parameterName });

    if (props.exampleConsumer) {
      const idempotency = new dynamodb.Table(this, 'ConsumerIdempotency', {
        partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
        timeToLiveAttribute: 'expiration',
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const consumer = new NodejsFunction(this, 'ExampleConsumer', {
        entry: path.join(__dirname, '..', 'lambda', 'handlers', 'example-consumer.ts'),
        handler: 'handler',
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        timeout: Duration.minutes(1),
        memorySize: 512,
        description: 'dynamodb-kinesis-scanner: example consumer of the scan stream',
        environment: { [ConsumerEnv.idempotencyTable]: idempotency.tableName },
        bundling: { externalModules: [], minify: true, keepNames: true, sourceMap: true, target: 'node22' },
        depsLockFilePath: path.join(__dirname, '..', 'package-lock.json'),
        projectRoot: path.join(__dirname, '..'),
      });
      idempotency.grantReadWriteData(consumer);
      this.scanner.addConsumer(consumer);
      new CfnOutput(this, 'ExampleConsumerName', { value: consumer.functionName });
    }
  }
}

/**
 * Reads and checks the app's context. A missing or malformed value fails synth with a message
 * that names the context key and shows an example.
 */
export function readStackContext(context: (key: string) => unknown): {
  tableArn: string;
  streamArn?: string;
  region: string;
} {
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
  const streamArn = context('streamArn');
  if (streamArn === undefined || streamArn === '') return { tableArn, region };
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
  return { tableArn, streamArn, region };
}
