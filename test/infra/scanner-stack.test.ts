import { CfnParameter, type CfnResource, Duration, Stack, Tags } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { INITIAL_ROOT_PARAMETER_VALUE, ScannerDefaults, ScannerEnv } from '../../lambda/contract';
import { DynamoDbKinesisScanner } from '../../lib/dynamodb-kinesis-scanner';
import { readStackContext, ScannerStack } from '../../lib/scanner-stack';
import {
  ACCOUNT,
  asList,
  CLI,
  canonical,
  collectGrants,
  constructScope,
  describeGrants,
  getAttArn,
  grantsOn,
  isRecord,
  newApp,
  newScanner,
  once,
  onlyLogicalId,
  REGION,
  STACK_NAME,
  STREAM_ARN,
  stackFromContext,
  stringLeaves,
  TABLE_ARN,
} from './support';

const SSM_ACTIONS = [
  'ssm:GetParameter',
  'ssm:GetParameters',
  'ssm:PutParameter',
  'ssm:GetParametersByPath',
  'ssm:GetParameterHistory',
  'ssm:DeleteParameters',
];

/** On the stack's own root parameter the scanner only reads. */
const SSM_ROOT_ACTIONS = ['ssm:GetParameter', 'ssm:GetParameters'];

/** The default event bus in the test account, as CDK renders it. */
const DEFAULT_BUS_ARN = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:events:${REGION}:${ACCOUNT}:event-bus/default`]],
};

function ssmParameterArn(parameterLogicalId: string, suffix: string[] = []): unknown {
  return {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        `:ssm:${REGION}:${ACCOUNT}:parameter`,
        { Ref: parameterLogicalId },
        ...suffix,
      ],
    ],
  };
}

/** The stack deployed with only `-c tableArn=…`, shared by the tests that only read its template. */
const synthDefault = once(() => {
  const template = Template.fromStack(stackFromContext({ tableArn: TABLE_ARN }).stack);
  const functionId = onlyLogicalId(template, 'AWS::Lambda::Function');
  const streamId = onlyLogicalId(template, 'AWS::Kinesis::Stream');
  const parameterId = onlyLogicalId(template, 'AWS::SSM::Parameter');
  const parameterPath = ssmParameterArn(parameterId, ['/*']);
  const queueId = onlyLogicalId(template, 'AWS::SQS::Queue');
  const logGroupId = onlyLogicalId(template, 'AWS::Logs::LogGroup');
  return {
    template,
    functionId,
    streamId,
    parameterId,
    parameterPath,
    queueId,
    logGroupId,
    grants: collectGrants(template),
  };
});

describe('ScannerStack with only a tableArn', () => {
  const synth = synthDefault;

  it('has one scanner function on Node.js 22 with the maximum timeout and recursion allowed', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Timeout: 900,
      RecursiveLoop: 'Allow',
    });
  });

  it('configures the function through the SCANNER_* environment variables of the contract', () => {
    const { template, streamId, parameterId } = synth();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ScannerEnv.tableName]: 'Orders',
          [ScannerEnv.streamName]: { Ref: streamId },
          [ScannerEnv.parameterName]: { Ref: parameterId },
          [ScannerEnv.handoffMs]: String(ScannerDefaults.handoffMs),
          [ScannerEnv.checkpointIntervalMs]: String(ScannerDefaults.checkpointIntervalMs),
          [ScannerEnv.checkpointWritesPerSecond]: String(ScannerDefaults.checkpointWritesPerSecond),
          [ScannerEnv.concurrency]: String(ScannerDefaults.concurrency),
          [ScannerEnv.pageSize]: Match.absent(),
          [ScannerEnv.eventBusName]: 'default',
          // The 900 s timeout plus a minute.
          [ScannerEnv.stalledAfterMs]: String(ScannerDefaults.stalledAfterMs),
        }),
      },
    });
  });

  it('creates one root parameter holding the initial value of the contract', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::SSM::Parameter', 1);
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: `/ddbscan/${STACK_NAME}/Scanner`,
      Type: 'String',
      Value: INITIAL_ROOT_PARAMETER_VALUE,
    });
  });

  it('keeps no scan state in a value CloudFormation owns, so an updated template leaves a scan alone', () => {
    const before = synth().template;
    // An update that touches the root parameter: a tag on every resource.
    const { stack } = stackFromContext({ tableArn: TABLE_ARN });
    Tags.of(stack).add('team', 'payments');
    const after = Template.fromStack(stack);

    const roots = (template: Template) => Object.values(template.findResources('AWS::SSM::Parameter'));
    expect(roots(after)).toHaveLength(1);
    expect(roots(after)[0]?.Properties.Tags).toEqual({ team: 'payments' });
    // The value an update puts back is the one the stack always had, and the scanner never
    // writes that parameter (IAM below grants only reads on it): its state lives under the path.
    expect(roots(after)[0]?.Properties.Value).toBe(INITIAL_ROOT_PARAMETER_VALUE);
    // Every property is as earlier versions (which kept the scan in this parameter) had it: an
    // upgrade that changed one would make CloudFormation write the value over, mid-scan.
    expect(roots(before)[0]?.Properties).toEqual({
      Name: `/ddbscan/${STACK_NAME}/Scanner`,
      Type: 'String',
      Value: '{"v":1,"scan":null}',
      Description:
        'dynamodb-kinesis-scanner: the current scan; segment checkpoints live under <name>/segment/',
    });
    const { grants, parameterId } = synth();
    const onRoot = grants.filter((g) => canonical(g.resource) === canonical(ssmParameterArn(parameterId)));
    expect(onRoot.map((g) => g.action).sort()).toEqual(SSM_ROOT_ACTIONS);
  });

  it('creates one on-demand stream encrypted with the AWS managed Kinesis key', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      ShardCount: Match.absent(),
    });
  });

  it('outputs the function name, stream name and ARN, and parameter name', () => {
    const { template, functionId, streamId, parameterId } = synth();
    template.hasOutput('FunctionName', {
      Value: { Ref: functionId },
      // A hint that works as written on AWS CLI v2, which reads --payload as base64 by default.
      Description: Match.stringLikeRegexp(
        '--cli-binary-format raw-in-base64-out --payload \'\\{"action":"start"\\}\'',
      ),
    });
    template.hasOutput('StreamName', { Value: { Ref: streamId } });
    template.hasOutput('StreamArn', { Value: getAttArn(streamId) });
    template.hasOutput('ParameterName', { Value: { Ref: parameterId } });
  });
});

describe('ScannerStack with a streamArn', () => {
  const synth = once(() => ({
    template: Template.fromStack(stackFromContext({ tableArn: TABLE_ARN, streamArn: STREAM_ARN }).stack),
  }));

  it('creates no stream', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::Kinesis::Stream', 0);
  });

  it('grants PutRecords and DescribeStreamSummary on the given stream ARN and nothing else on Kinesis', () => {
    const { template } = synth();
    const kinesis = collectGrants(template).filter((grant) => grant.action.startsWith('kinesis:'));
    expect(describeGrants(kinesis)).toEqual(
      describeGrants(grantsOn(['kinesis:PutRecords', 'kinesis:DescribeStreamSummary'], [STREAM_ARN])),
    );
  });

  it('grants nothing beyond the table, the stream, the parameter path, the event bus and the function itself', () => {
    const { template } = synth();
    const services = new Set(collectGrants(template).map((grant) => grant.action.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'events', 'kinesis', 'lambda', 'logs', 'sqs', 'ssm']);
  });

  it('configures the function with the given stream and outputs it', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ScannerEnv.streamName]: 'orders-backfill' }) },
    });
    template.hasOutput('StreamName', { Value: 'orders-backfill' });
    template.hasOutput('StreamArn', { Value: STREAM_ARN });
  });
});

describe('IAM least privilege', () => {
  const synth = synthDefault;

  it('allows exactly the scanner permissions across all policies, so any added permission fails', () => {
    const { functionId, streamId, parameterId, parameterPath, queueId, logGroupId, grants } = synth();
    expect(describeGrants(grants)).toEqual(
      describeGrants([
        // Its own log group only; the group's ARN ends in `:*`, which covers its log streams.
        ...grantsOn(['logs:CreateLogStream', 'logs:PutLogEvents'], [getAttArn(logGroupId)]),
        ...grantsOn(['dynamodb:Scan', 'dynamodb:DescribeTable'], [TABLE_ARN]),
        ...grantsOn(['kinesis:PutRecords', 'kinesis:DescribeStreamSummary'], [getAttArn(streamId)]),
        ...grantsOn(SSM_ROOT_ACTIONS, [ssmParameterArn(parameterId)]),
        ...grantsOn(SSM_ACTIONS, [parameterPath]),
        ...grantsOn(['lambda:InvokeFunction'], [getAttArn(functionId)]),
        ...grantsOn(['events:PutEvents'], [DEFAULT_BUS_ARN]),
        // The on-failure destination, as Lambda's destination grant writes it.
        ...grantsOn(['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], [getAttArn(queueId)]),
      ]),
    );
  });

  it('allows on the table only Scan and DescribeTable, on its exact ARN', () => {
    const { grants } = synth();
    const dynamodbGrants = grants.filter((grant) => grant.action.startsWith('dynamodb:'));
    expect(describeGrants(dynamodbGrants)).toEqual(
      describeGrants(grantsOn(['dynamodb:Scan', 'dynamodb:DescribeTable'], [TABLE_ARN])),
    );
  });

  it('allows on SSM only reading the root parameter, and the parameters under its path', () => {
    const { parameterId, parameterPath, grants } = synth();
    const ssmGrants = grants.filter((grant) => grant.action.startsWith('ssm:'));
    expect(describeGrants(ssmGrants)).toEqual(
      describeGrants([
        ...grantsOn(SSM_ROOT_ACTIONS, [ssmParameterArn(parameterId)]),
        ...grantsOn(SSM_ACTIONS, [parameterPath]),
      ]),
    );
  });

  it('allows invoking only the function itself', () => {
    const { functionId, grants } = synth();
    const lambdaGrants = grants.filter((grant) => grant.action.startsWith('lambda:'));
    expect(describeGrants(lambdaGrants)).toEqual(
      describeGrants(grantsOn(['lambda:InvokeFunction'], [getAttArn(functionId)])),
    );
  });

  it('uses no wildcard except the /* suffix of the parameter path', () => {
    const { parameterPath, grants } = synth();
    expect(grants.filter((grant) => grant.action.includes('*'))).toEqual([]);
    const wildcards = grants.filter((grant) =>
      stringLeaves(grant.resource).some((leaf) => leaf.includes('*')),
    );
    expect(wildcards.length).toBeGreaterThan(0);
    for (const grant of wildcards) {
      expect(grant.action).toMatch(/^ssm:/);
      expect(canonical(grant.resource)).toBe(canonical(parameterPath));
      expect(stringLeaves(grant.resource).filter((leaf) => leaf.includes('*'))).toEqual(['/*']);
    }
  });

  it('attaches no managed policy and no inline role policy: logging is granted on its own log group', () => {
    const { template, logGroupId } = synth();
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    template.resourceCountIs('AWS::IAM::Role', 1);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
        ],
      },
      ManagedPolicyArns: Match.absent(),
      Policies: Match.absent(),
    });
    // The function logs to that group, which exists before it, so it needs no logs:CreateLogGroup.
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: logGroupId } },
    });
  });

  it('grants decrypt only on the key of an encrypted table, and GenerateDataKey only on the key of a stream', () => {
    const { stack } = constructScope();
    const tableKey = new kms.Key(stack, 'TableKey');
    const streamKey = new kms.Key(stack, 'StreamKey');
    const table = dynamodb.Table.fromTableAttributes(stack, 'Encrypted', {
      tableArn: TABLE_ARN,
      encryptionKey: tableKey,
    });
    const stream = new kinesis.Stream(stack, 'Mine', {
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: streamKey,
    });
    new DynamoDbKinesisScanner(stack, 'Scanner', { table, stream });
    const kmsGrants = collectGrants(Template.fromStack(stack)).filter((grant) =>
      grant.action.startsWith('kms:'),
    );
    expect(describeGrants(kmsGrants)).toEqual(
      describeGrants([
        ...grantsOn(
          ['kms:Decrypt'],
          [getAttArn(stack.getLogicalId(tableKey.node.defaultChild as CfnResource))],
        ),
        // A Kinesis producer needs only kms:GenerateDataKey (Kinesis Data Streams developer guide).
        ...grantsOn(
          ['kms:GenerateDataKey'],
          [getAttArn(stack.getLogicalId(streamKey.node.defaultChild as CfnResource))],
        ),
      ]),
    );
  });
});

describe('self-invoke permission', () => {
  it('lives in a policy the function does not depend on, so synth has no dependency cycle', () => {
    const { app, stack } = stackFromContext({ tableArn: TABLE_ARN });
    // With validateAgainstDefaultRules, CDK throws on a cycle such as fn.grantInvoke(fn) makes.
    expect(() => app.synth()).not.toThrow();

    const template = Template.fromStack(stack);
    const functionId = onlyLogicalId(template, 'AWS::Lambda::Function');
    const policies = Object.entries(template.findResources('AWS::IAM::Policy'));
    const invokePolicies = policies
      .filter(([, policy]) =>
        JSON.stringify(policy.Properties?.PolicyDocument).includes('lambda:InvokeFunction'),
      )
      .map(([id]) => id);
    expect(invokePolicies).toHaveLength(1);
    const scanPolicies = policies
      .filter(([, policy]) => JSON.stringify(policy.Properties?.PolicyDocument).includes('dynamodb:Scan'))
      .map(([id]) => id);
    expect(scanPolicies).toHaveLength(1);

    const fn: unknown = template.toJSON().Resources?.[functionId];
    const dependsOn = isRecord(fn) ? asList(fn.DependsOn ?? []) : [];
    // The role's default policy is a dependency: the function must not start without its grants.
    expect(dependsOn).toEqual(expect.arrayContaining(scanPolicies));
    expect(dependsOn).not.toEqual(expect.arrayContaining(invokePolicies));
    expect(invokePolicies).not.toEqual(scanPolicies);
  });
});

describe('readStackContext', () => {
  const contextOf =
    (values: Record<string, unknown>) =>
    (key: string): unknown =>
      values[key];

  it('rejects a missing tableArn, naming the key and showing an example ARN', () => {
    expect(() => readStackContext(contextOf({}))).toThrow(/"tableArn"/);
    expect(() => readStackContext(contextOf({}))).toThrow(/arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table\/\w+/);
  });

  it('rejects an empty tableArn as missing', () => {
    expect(() => readStackContext(contextOf({ tableArn: '' }))).toThrow(/Missing context "tableArn"/);
  });

  it('rejects a malformed tableArn, naming the key and the received value', () => {
    expect(() => readStackContext(contextOf({ tableArn: 'orders' }))).toThrow(
      /"tableArn".*received "orders"/,
    );
  });

  it('rejects a streamArn in another region than the table', () => {
    const streamArn = `arn:aws:kinesis:eu-west-1:${ACCOUNT}:stream/orders-backfill`;
    expect(() => readStackContext(contextOf({ tableArn: TABLE_ARN, streamArn }))).toThrow(
      /"streamArn".*us-east-1.*eu-west-1/,
    );
  });

  it('rejects a malformed streamArn, naming the key and the received value', () => {
    expect(() => readStackContext(contextOf({ tableArn: TABLE_ARN, streamArn: 'orders-backfill' }))).toThrow(
      /"streamArn".*received "orders-backfill"/,
    );
  });

  it('returns the ARNs and the table region for a valid pair', () => {
    const tableArn = `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/Orders`;
    const streamArn = `arn:aws:kinesis:eu-west-1:${ACCOUNT}:stream/orders-backfill`;
    expect(readStackContext(contextOf({ tableArn, streamArn }))).toEqual({
      tableArn,
      streamArn,
      region: 'eu-west-1',
      exampleConsumer: false,
    });
  });

  it('returns no streamArn when none is given', () => {
    expect(readStackContext(contextOf({ tableArn: TABLE_ARN }))).toEqual({
      tableArn: TABLE_ARN,
      region: REGION,
      exampleConsumer: false,
    });
  });

  it.each([
    [true, true],
    ['true', true],
    [false, false],
    ['false', false],
  ])('reads exampleConsumer %j as %j', (value, expected) => {
    expect(readStackContext(contextOf({ tableArn: TABLE_ARN, exampleConsumer: value })).exampleConsumer).toBe(
      expected,
    );
  });

  it('refuses an exampleConsumer that is neither true nor false, instead of ignoring it', () => {
    expect(() => readStackContext(contextOf({ tableArn: TABLE_ARN, exampleConsumer: 'yes' }))).toThrow(
      'Invalid context "exampleConsumer": expected true or false, received "yes".',
    );
  });
});

describe('DynamoDbKinesisScanner validation', () => {
  it('rejects a handoffThreshold over half the timeout, naming the prop', () => {
    expect(() =>
      newScanner({ timeout: Duration.minutes(2), handoffThreshold: Duration.seconds(61) }),
    ).toThrow(/handoffThreshold.*received 61 s/);
  });

  it('reserves no concurrency unless asked, and twice the chains plus room when asked', () => {
    const shared = Template.fromStack(Stack.of(newScanner({})));
    shared.hasResourceProperties('AWS::Lambda::Function', {
      RecursiveLoop: 'Allow',
      ReservedConcurrentExecutions: Match.absent(),
    });
    const reserved = Template.fromStack(Stack.of(newScanner({ concurrency: 40, reserveConcurrency: true })));
    reserved.hasResourceProperties('AWS::Lambda::Function', {
      RecursiveLoop: 'Allow',
      ReservedConcurrentExecutions: 90,
      Environment: { Variables: Match.objectLike({ [ScannerEnv.concurrency]: '40' }) },
    });
  });

  it('rejects a concurrency above 1000, naming the prop', () => {
    expect(() => newScanner({ concurrency: 1001 })).toThrow(
      'Invalid concurrency: expected an integer from 1 to 1000, received 1001.',
    );
  });

  it('rejects a checkpointWritesPerSecond below 1, naming the prop', () => {
    expect(() => newScanner({ checkpointWritesPerSecond: 0 })).toThrow(
      'Invalid checkpointWritesPerSecond: expected an integer from 1 to 10000, received 0.',
    );
  });

  it('rejects a timeout over 900 seconds, naming the prop', () => {
    expect(() => newScanner({ timeout: Duration.seconds(901) })).toThrow(/Invalid timeout.*received 901/);
  });

  it('rejects a pageSize of 0, naming the prop', () => {
    expect(() => newScanner({ pageSize: 0 })).toThrow(/pageSize.*received 0/);
  });

  it('accepts the limits themselves: a 900 s timeout, a handoff of half of it, a pageSize of 1', () => {
    expect(() =>
      newScanner({ timeout: Duration.seconds(900), handoffThreshold: Duration.seconds(450), pageSize: 1 }),
    ).not.toThrow();
  });

  it('accepts a timeout given as a token', () => {
    const { stack, table } = constructScope();
    const seconds = new CfnParameter(stack, 'TimeoutSeconds', { type: 'Number', default: 900 });
    expect(
      () =>
        new DynamoDbKinesisScanner(stack, 'Scanner', {
          table,
          timeout: Duration.seconds(seconds.valueAsNumber),
        }),
    ).not.toThrow();
  });

  it('passes a given pageSize to the function', () => {
    const scanner = newScanner({ pageSize: 250 });
    Template.fromStack(Stack.of(scanner)).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ScannerEnv.pageSize]: '250' }) },
    });
  });
});

describe('failure handling', () => {
  const synth = synthDefault;

  it('sends async events that failed every retry to an encrypted, TLS-only queue', () => {
    const { template, queueId, functionId } = synth();
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: getAttArn(queueId) } },
    });
  });

  it('runs the watchdog every 5 minutes with {"action":"watchdog"}', () => {
    const { template, functionId } = synth();
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [
        Match.objectLike({ Arn: getAttArn(functionId), Input: JSON.stringify({ action: 'watchdog' }) }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
    });
  });

  it('takes another watchdog interval, and refuses one under a minute', () => {
    const { stack, table } = constructScope();
    new DynamoDbKinesisScanner(stack, 'Scanner', { table, watchdogInterval: Duration.minutes(2) });
    Template.fromStack(stack).hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(2 minutes)',
    });
    expect(() => newScanner({ watchdogInterval: Duration.seconds(30) })).toThrow(
      'Invalid watchdogInterval: expected at least 1 minute (EventBridge schedules), received 0.5 minutes.',
    );
  });
});

describe('addConsumer', () => {
  function consumerScope() {
    const { stack, table } = constructScope();
    const scanner = new DynamoDbKinesisScanner(stack, 'Scanner', { table });
    const consumer = new lambda.Function(stack, 'Indexer', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ batchItemFailures: [] });'),
    });
    return { stack, scanner, consumer };
  }

  it('attaches the consumer with backfill defaults and an encrypted failure queue', () => {
    const { stack, scanner, consumer } = consumerScope();
    const { failureQueue } = scanner.addConsumer(consumer);
    const template = Template.fromStack(stack);
    const queueId = stack.getLogicalId(failureQueue?.node.defaultChild as CfnResource);

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAttArn(stack.getLogicalId(scanner.stream.node.defaultChild as CfnResource)),
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      ParallelizationFactor: 2,
      MaximumRetryAttempts: 3,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: getAttArn(queueId) } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
  });

  it("alarms while the consumer's failure queue holds a message, with the runbook in its description", () => {
    const { stack, scanner, consumer } = consumerScope();
    const { failureQueue, failureAlarm } = scanner.addConsumer(consumer);
    const template = Template.fromStack(stack);
    const queueId = stack.getLogicalId(failureQueue?.node.defaultChild as CfnResource);
    const alarm =
      template.findResources('AWS::CloudWatch::Alarm')[
        stack.getLogicalId(failureAlarm?.node.defaultChild as CfnResource)
      ];

    expect(alarm?.Properties?.Namespace).toBe('AWS/SQS');
    expect(alarm?.Properties?.Dimensions).toEqual([
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } },
    ]);
    expect(alarm?.Properties).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    const description = JSON.stringify(alarm?.Properties?.AlarmDescription);
    expect(description).toContain('failed every retry of the consumer');
    expect(description).toContain(`${CLI} start --restart --function`);
  });

  it("sends the consumer alarm's ALARM and OK to the alarm topic", () => {
    const { stack, table } = constructScope();
    const alarmTopic = new sns.Topic(stack, 'Ops');
    const scanner = new DynamoDbKinesisScanner(stack, 'Scanner', { table, alarmTopic });
    const consumer = new lambda.Function(stack, 'Indexer', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ batchItemFailures: [] });'),
    });
    const { failureAlarm } = scanner.addConsumer(consumer);
    const alarm =
      Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')[
        stack.getLogicalId(failureAlarm?.node.defaultChild as CfnResource)
      ];

    const topicRef = { Ref: stack.getLogicalId(alarmTopic.node.defaultChild as CfnResource) };
    expect(alarm?.Properties?.AlarmActions).toEqual([topicRef]);
    expect(alarm?.Properties?.OKActions).toEqual([topicRef]);
  });

  it('grants the consumer reading the stream and writing the failure queue, nothing else', () => {
    const { stack, scanner, consumer } = consumerScope();
    scanner.addConsumer(consumer);
    const template = Template.fromStack(stack);
    const consumerRole = stack.getLogicalId(consumer.role?.node.defaultChild as CfnResource);
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties?.Roles).includes(consumerRole),
    );
    const actions = new Set(
      policies.flatMap((p) =>
        ((p.Properties?.PolicyDocument?.Statement ?? []) as { Action: string | string[] }[]).flatMap(
          (st) => st.Action,
        ),
      ),
    );
    expect([...actions].every((a) => a.startsWith('kinesis:') || a.startsWith('sqs:'))).toBe(true);
    expect(actions).toContain('kinesis:GetRecords');
    expect(actions).toContain('sqs:SendMessage');
    expect([...actions].some((a) => a === 'kinesis:PutRecords' || a === 'kinesis:*' || a === 'sqs:*')).toBe(
      false,
    );
  });

  it('lets each default be overridden, and validates the parallelization factor', () => {
    const { stack, scanner, consumer } = consumerScope();
    const mine = new sqs.Queue(stack, 'Mine');
    const { failureQueue } = scanner.addConsumer(consumer, {
      batchSize: 500,
      parallelizationFactor: 1,
      retryAttempts: 10,
      bisectBatchOnError: false,
      startingPosition: lambda.StartingPosition.LATEST,
      onFailure: new sources.SqsDlq(mine),
    });
    expect(failureQueue).toBeUndefined();
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      ParallelizationFactor: 1,
      MaximumRetryAttempts: 10,
      BisectBatchOnFunctionError: false,
      StartingPosition: 'LATEST',
    });
    expect(() => scanner.addConsumer(consumer, { parallelizationFactor: 11 })).toThrow(
      'Invalid parallelizationFactor: expected 1 to 10, received 11.',
    );
  });

  function statementsOf(stack: Stack, role: iam.IRole | undefined) {
    const roleId = stack.getLogicalId(role?.node.defaultChild as CfnResource);
    return Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties?.Roles).includes(roleId))
      .flatMap(
        (p) =>
          (p.Properties?.PolicyDocument?.Statement ?? []) as {
            Action: string | string[];
            Resource: unknown;
          }[],
      );
  }

  it('tracks progress in one encrypted progress table with TTL and the index of failed records', () => {
    const { stack, scanner, consumer } = consumerScope();
    const second = new lambda.Function(stack, 'Mailer', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ batchItemFailures: [] });'),
    });
    const { progressTable } = scanner.addConsumer(consumer, { trackProgress: true });
    const again = scanner.addConsumer(second, { trackProgress: true });
    expect(again.progressTable).toBe(progressTable);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'failed',
          KeySchema: [
            { AttributeName: 'failedOf', KeyType: 'HASH' },
            { AttributeName: 'failedAt', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
    const tableRef = { Ref: stack.getLogicalId(progressTable?.node.defaultChild as CfnResource) };
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Environment: { Variables: Match.objectLike({ CONSUMER_PROGRESS_TABLE: tableRef }) },
    });
    // The scanner knows both consumers by their function names, for status and the totals.
    const scannerFn =
      template.findResources('AWS::Lambda::Function')[
        stack.getLogicalId(scanner.function.node.defaultChild as CfnResource)
      ];
    const variables = scannerFn?.Properties?.Environment?.Variables;
    expect(variables?.SCANNER_PROGRESS_TABLE).toEqual(tableRef);
    const names = JSON.stringify(variables?.SCANNER_CONSUMERS);
    expect(names).toContain(stack.getLogicalId(consumer.node.defaultChild as CfnResource));
    expect(names).toContain(stack.getLogicalId(second.node.defaultChild as CfnResource));
  });

  it("grants a tracked consumer only the progress table's item writes and reads, and publishing", () => {
    const { stack, scanner, consumer } = consumerScope();
    const { progressTable } = scanner.addConsumer(consumer, { trackProgress: true });
    const tableArn = {
      'Fn::GetAtt': [stack.getLogicalId(progressTable?.node.defaultChild as CfnResource), 'Arn'],
    };
    const dynamo = statementsOf(stack, consumer.role).filter((st) =>
      JSON.stringify(st.Action).includes('dynamodb:'),
    );
    expect(dynamo).toEqual([
      expect.objectContaining({
        Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
        Resource: tableArn,
      }),
    ]);
    const actions = statementsOf(stack, consumer.role).flatMap((st) => st.Action);
    expect(actions).toContain('events:PutEvents');
    const scannerDynamo = statementsOf(stack, scanner.function.role).filter((st) =>
      JSON.stringify(st.Resource).includes(JSON.stringify(tableArn)),
    );
    // The table and its index of failed records (`failures`, `replay`), nothing more.
    expect(scannerDynamo).toEqual([
      expect.objectContaining({
        Action: ['dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: [tableArn, { 'Fn::Join': ['', [tableArn, '/index/failed']] }],
      }),
    ]);
  });

  it("counts a tracked consumer's failed batches from its failure queue, and alarms on the records it counted", () => {
    const { stack, scanner, consumer } = consumerScope();
    const { failureQueue, failureAlarm } = scanner.addConsumer(consumer, { trackProgress: true });
    const template = Template.fromStack(stack);
    const queueArn = getAttArn(stack.getLogicalId(failureQueue?.node.defaultChild as CfnResource));

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: queueArn,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 360 });
    const counter = Object.values(template.findResources('AWS::Lambda::Function')).find((fn) =>
      String(fn.Properties?.Description).includes('failed every retry'),
    );
    expect(JSON.stringify(counter?.Properties?.Environment?.Variables?.PROGRESS_CONSUMERS)).toContain(
      stack.getLogicalId(failureQueue?.node.defaultChild as CfnResource),
    );
    const counterRole = (counter?.Properties?.Role as { 'Fn::GetAtt': string[] } | undefined)?.[
      'Fn::GetAtt'
    ][0];
    const counterActions = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties?.Roles).includes(String(counterRole)))
      .flatMap((p) => (p.Properties?.PolicyDocument?.Statement ?? []) as { Action: string | string[] }[])
      .flatMap((st) => st.Action);
    expect(counterActions.filter((a) => a.startsWith('kinesis:')).sort()).toEqual([
      'kinesis:GetRecords',
      'kinesis:GetShardIterator',
    ]);
    expect(counterActions).toContain('sqs:DeleteMessage');
    const alarm =
      template.findResources('AWS::CloudWatch::Alarm')[
        stack.getLogicalId(failureAlarm?.node.defaultChild as CfnResource)
      ];
    expect(alarm?.Properties).toMatchObject({
      MetricName: 'ConsumerRecordsFailed',
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it('alarms when a tracked consumer counted nothing for stalledAfter while records remain', () => {
    const { stack, scanner, consumer } = consumerScope();
    const { stalledAlarm } = scanner.addConsumer(consumer, {
      trackProgress: true,
      stalledAfter: Duration.minutes(30),
    });
    const alarm =
      Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')[
        stack.getLogicalId(stalledAlarm?.node.defaultChild as CfnResource)
      ];
    const metrics = alarm?.Properties?.Metrics as {
      Expression?: string;
      MetricStat?: { Metric: { MetricName: string }; Period: number };
    }[];
    expect(metrics.find((m) => m.Expression)?.Expression).toBe(
      'IF(age > 0 AND FILL(processed, 0) == 0, 1, 0)',
    );
    expect(
      metrics
        .flatMap((m) => (m.MetricStat ? [[m.MetricStat.Metric.MetricName, m.MetricStat.Period]] : []))
        .sort(),
    ).toEqual([
      ['ConsumerRecordsProcessed', 1800],
      ['IteratorAge', 1800],
    ]);
    expect(JSON.stringify(alarm?.Properties?.AlarmDescription)).toContain(
      'processed no record for 30 minutes',
    );
    expect(() =>
      scanner.addConsumer(consumer, { trackProgress: true, stalledAfter: Duration.seconds(30) }),
    ).toThrow('Invalid stalledAfter: expected at least 1 minute, received 30 seconds.');
  });

  it('refuses trackProgress with an onFailure destination of its own, whose failures it could not count', () => {
    const { stack, scanner, consumer } = consumerScope();
    expect(() =>
      scanner.addConsumer(consumer, {
        trackProgress: true,
        onFailure: new sources.SqsDlq(new sqs.Queue(stack, 'Mine')),
      }),
    ).toThrow(
      'failed records are counted from the failure queue addConsumer creates, so onFailure must be left unset',
    );
  });

  it('adds no progress table without trackProgress, and refuses to track an imported function', () => {
    const { stack, scanner, consumer } = consumerScope();
    expect(scanner.addConsumer(consumer).progressTable).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::DynamoDB::Table', 0);
    const imported = lambda.Function.fromFunctionName(stack, 'Imported', 'indexer');
    expect(() => scanner.addConsumer(imported, { trackProgress: true })).toThrow(
      `Invalid trackProgress for ${imported.node.path}: expected a lambda.Function (its environment names the progress table), received an imported function.`,
    );
  });

  it('deploys the example consumer and its idempotency table when the context asks', () => {
    const { stack } = stackFromContext({ tableArn: TABLE_ARN });
    const app = newApp();
    const withConsumer = new ScannerStack(app, 'WithConsumer', {
      tableArn: TABLE_ARN,
      exampleConsumer: true,
      env: { account: ACCOUNT, region: REGION },
    });
    const template = Template.fromStack(withConsumer);
    // The scanner, the example consumer and the failure counter; the stream's mapping and the failure queue's.
    template.resourceCountIs('AWS::Lambda::Function', 3);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    template.hasOutput('ExampleConsumerName', {});
    Template.fromStack(stack).resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
  });
});

describe('DynamoDbKinesisScanner completion events', () => {
  it('publishes to a given bus and may put events only there', () => {
    const { stack, table } = constructScope();
    const bus = new events.EventBus(stack, 'Ops');
    new DynamoDbKinesisScanner(stack, 'Scanner', { table, eventBus: bus });
    const template = Template.fromStack(stack);
    const busId = stack.getLogicalId(bus.node.defaultChild as CfnResource);

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ScannerEnv.eventBusName]: { Ref: busId } }) },
    });
    const puts = collectGrants(template).filter((grant) => grant.action === 'events:PutEvents');
    expect(describeGrants(puts)).toEqual(describeGrants(grantsOn(['events:PutEvents'], [getAttArn(busId)])));
  });
});

describe('DynamoDbKinesisScanner reuse', () => {
  it('gives scanners with one id in different scopes distinct parameter names', () => {
    const { app, stack, table } = constructScope();
    new DynamoDbKinesisScanner(new Construct(stack, 'A'), 'Scanner', { table });
    new DynamoDbKinesisScanner(new Construct(stack, 'B'), 'Scanner', { table });
    expect(() => app.synth()).not.toThrow();
    const names = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter')).map(
      (parameter): unknown => parameter.Properties?.Name,
    );
    expect(names.sort()).toEqual([`/ddbscan/${STACK_NAME}/A/Scanner`, `/ddbscan/${STACK_NAME}/B/Scanner`]);
  });

  it('synthesizes two scanners in one stack with distinct parameter names', () => {
    const { app, stack, table } = constructScope();
    const users = dynamodb.Table.fromTableArn(
      stack,
      'Users',
      `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Users`,
    );
    const ordersScanner = new DynamoDbKinesisScanner(stack, 'OrdersScanner', { table });
    const usersScanner = new DynamoDbKinesisScanner(stack, 'UsersScanner', { table: users });
    // Validation rules are errors in these tests: two parameters with one name fail here.
    expect(() => app.synth()).not.toThrow();

    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.resourceCountIs('AWS::Kinesis::Stream', 2);
    const names = Object.values(template.findResources('AWS::SSM::Parameter')).map(
      (parameter): unknown => parameter.Properties?.Name,
    );
    expect(names.sort()).toEqual([
      `/ddbscan/${STACK_NAME}/OrdersScanner`,
      `/ddbscan/${STACK_NAME}/UsersScanner`,
    ]);
    for (const [scanner, tableName] of [
      [ordersScanner, 'Orders'],
      [usersScanner, 'Users'],
    ] as const) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            [ScannerEnv.tableName]: tableName,
            [ScannerEnv.parameterName]: stack.resolve(scanner.parameter.parameterName),
            [ScannerEnv.streamName]: stack.resolve(scanner.stream.streamName),
          }),
        },
      });
    }
  });
});
