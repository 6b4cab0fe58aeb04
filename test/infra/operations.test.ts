import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { ScannerMetrics } from '../../lambda/contract';
import { AlarmTopic } from '../../lib/alarm-topic';
import { DynamoDbKinesisScanner } from '../../lib/dynamodb-kinesis-scanner';
import { readAlarmContext, readStackContext, ScannerStack } from '../../lib/scanner-stack';
import {
  ACCOUNT,
  asText,
  CLI,
  constructScope,
  isRecord,
  newApp,
  newScanner,
  once,
  onlyLogicalId,
  REGION,
  STACK_NAME,
  STREAM_ARN,
  stackFromContext,
  TABLE_ARN,
} from './support';

const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:ops-alarms`;
/** The dimensions of every scanner metric, as CDK renders them (sorted by name). */
const scannerDimensions = (functionId: string) => [
  { Name: 'FunctionName', Value: { Ref: functionId } },
  { Name: 'service', Value: ScannerMetrics.service },
];

type Resource = { Type: string; Properties: Record<string, unknown> };

function alarms(template: Template): Resource[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
}

/** The one alarm on a metric (by name, or by one of the metrics of its math expression). */
function alarmOn(template: Template, metricName: string): Resource {
  const found = alarms(template).filter(
    (alarm) =>
      alarm.Properties.MetricName === metricName ||
      JSON.stringify(alarm.Properties.Metrics ?? []).includes(`"MetricName":"${metricName}"`),
  );
  expect(found, `alarms on ${metricName}`).toHaveLength(1);
  return found[0] as Resource;
}

const synthDefault = once(() => {
  const { stack } = stackFromContext({ tableArn: TABLE_ARN });
  const template = Template.fromStack(stack);
  return {
    stack,
    template,
    functionId: onlyLogicalId(template, 'AWS::Lambda::Function'),
    queueId: onlyLogicalId(template, 'AWS::SQS::Queue'),
    streamId: onlyLogicalId(template, 'AWS::Kinesis::Stream'),
  };
});

describe('alarms', () => {
  const synth = synthDefault;

  it('creates five alarms, the construct exposes them, and none has an action without a topic', () => {
    const { stack, template } = synth();
    const scanner = stack.scanner;
    expect(alarms(template)).toHaveLength(5);
    expect(scanner.alarms).toEqual([
      scanner.monitoring.failedInvocationsAlarm,
      scanner.monitoring.errorsAlarm,
      scanner.monitoring.stalledSegmentsAlarm,
      scanner.monitoring.throttlingAlarm,
      scanner.monitoring.scansFailedAlarm,
    ]);
    for (const alarm of alarms(template)) {
      expect(alarm.Properties.AlarmActions).toBeUndefined();
      expect(alarm.Properties.OKActions).toBeUndefined();
      expect(alarm.Properties.TreatMissingData).toBe('notBreaching');
    }
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  it('alarms while the failed-invocations queue holds a message, and says how to resume and purge', () => {
    const { template, functionId, queueId } = synth();
    const alarm = alarmOn(template, 'ApproximateNumberOfMessagesVisible');
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    const description = asText(alarm.Properties.AlarmDescription);
    expect(description).toContain(`<${queueId}.QueueName>`);
    expect(description).toContain(`${CLI} status --function <${functionId}>`);
    // The scanner's region goes with it.
    expect(description).toMatch(/--function <\w+> --region \S+/);
    expect(description).toContain(`${CLI} resume --function <${functionId}>`);
    expect(description).toContain('aws sqs purge-queue');
  });

  it('alarms on any function error in 5 minutes, and says that rejected requests count too', () => {
    const { template, functionId } = synth();
    const alarm = alarmOn(template, 'Errors');
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    const description = asText(alarm.Properties.AlarmDescription);
    expect(description).toMatch(/ValidationError/);
    expect(description).toContain(`${CLI} status --function <${functionId}>`);
    expect(description).toContain(`${CLI} resume --function <${functionId}>`);
  });

  it('alarms when the watchdog relaunched a stalled segment, on the metric of this scanner only', () => {
    const { template, functionId } = synth();
    const alarm = alarmOn(template, ScannerMetrics.segmentsStalled);
    expect(alarm.Properties).toMatchObject({
      Namespace: ScannerMetrics.namespace,
      Dimensions: scannerDimensions(functionId),
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    const description = asText(alarm.Properties.AlarmDescription);
    for (const command of ['status', 'resume', 'stop']) {
      expect(description).toContain(`${CLI} ${command} --function <${functionId}>`);
    }
  });

  it('alarms when more than 20% of the records sent were refused for 3 periods of 5 minutes in a row', () => {
    const { template, functionId } = synth();
    const alarm = alarmOn(template, ScannerMetrics.recordsThrottled);
    expect(alarm.Properties).toMatchObject({
      Threshold: 20,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
    const metrics = alarm.Properties.Metrics as Record<string, unknown>[];
    expect(metrics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Expression: '100 * FILL(throttled, 0) / (FILL(put, 0) + FILL(throttled, 0))',
          ReturnData: true,
        }),
        ...[
          ['throttled', ScannerMetrics.recordsThrottled],
          ['put', ScannerMetrics.recordsPut],
        ].map(([id, metricName]) =>
          expect.objectContaining({
            Id: id,
            ReturnData: false,
            MetricStat: {
              Metric: {
                Namespace: ScannerMetrics.namespace,
                MetricName: metricName,
                Dimensions: scannerDimensions(functionId),
              },
              Period: 300,
              Stat: 'Sum',
            },
          }),
        ),
      ]),
    );
    expect(metrics).toHaveLength(3);
    const description = asText(alarm.Properties.AlarmDescription);
    expect(description).toContain('update-shard-count');
    expect(description).toContain(`${CLI} stop --function <${functionId}>`);
    expect(description).toContain(`${CLI} resume --function <${functionId}>`);
  });

  it('alarms when a scan ended FAILED, and says where the error is and how to continue', () => {
    const { template, functionId } = synth();
    const alarm = alarmOn(template, ScannerMetrics.scansFailed);
    expect(alarm.Properties).toMatchObject({
      Namespace: ScannerMetrics.namespace,
      Dimensions: scannerDimensions(functionId),
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    const description = asText(alarm.Properties.AlarmDescription);
    expect(description).toContain(`${CLI} status --function <${functionId}>`);
    expect(description).toContain(`${CLI} resume --function <${functionId}>`);
  });

  it("points Powertools Metrics at the contract's namespace and service, where the alarms look", () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_METRICS_NAMESPACE: ScannerMetrics.namespace,
          POWERTOOLS_SERVICE_NAME: ScannerMetrics.service,
        }),
      },
    });
  });

  it('keeps every description within CloudWatch’s 1,024 characters for the longest names', () => {
    const { template } = synth();
    for (const alarm of alarms(template)) {
      // A function name is at most 64 characters, a queue name 80.
      const longest = asText(alarm.Properties.AlarmDescription).replace(/<[^>]+>/g, 'x'.repeat(80));
      expect(longest.length).toBeLessThanOrEqual(1024);
    }
  });
});

describe('alarm notifications', () => {
  it('sends ALARM and OK of every alarm to a topic given to the construct', () => {
    const { stack, table } = constructScope();
    const topic = new sns.Topic(stack, 'Ops');
    new DynamoDbKinesisScanner(stack, 'Scanner', { table, alarmTopic: topic });
    const template = Template.fromStack(stack);
    const topicRef = { Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) };
    expect(alarms(template)).toHaveLength(5);
    for (const alarm of alarms(template)) {
      expect(alarm.Properties.AlarmActions).toEqual([topicRef]);
      expect(alarm.Properties.OKActions).toEqual([topicRef]);
    }
  });

  it('creates an encrypted, TLS-only topic that CloudWatch may use, subscribed to -c alarmEmail', () => {
    const { stack } = stackFromContext({ tableArn: TABLE_ARN, alarmEmail: 'ops@example.com' });
    const template = Template.fromStack(stack);
    const topicId = onlyLogicalId(template, 'AWS::SNS::Topic');
    const keyId = onlyLogicalId(template, 'AWS::KMS::Key');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Sid: 'AllowCloudWatchAlarmsToUseTheKey',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
          },
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          {
            Sid: 'AllowCloudWatchAlarmsToPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: topicId },
            Condition: {
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:${REGION}:${ACCOUNT}:alarm:*`],
                  ],
                },
              },
            },
          },
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topicId },
    });
    for (const alarm of alarms(template)) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
    }
    template.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
  });

  it('sends the alarms to an existing topic given by -c alarmTopicArn, creating none', () => {
    const { stack } = stackFromContext({ tableArn: TABLE_ARN, alarmTopicArn: TOPIC_ARN });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    for (const alarm of alarms(template)) {
      expect(alarm.Properties.AlarmActions).toEqual([TOPIC_ARN]);
      expect(alarm.Properties.OKActions).toEqual([TOPIC_ARN]);
    }
    template.hasOutput('AlarmTopicArn', { Value: TOPIC_ARN });
  });

  it('takes the topic from the stack props before the context', () => {
    const app = newApp({ alarmEmail: 'ignored@example.com' });
    const stack = new ScannerStack(app, STACK_NAME, {
      tableArn: TABLE_ARN,
      alarmTopicArn: TOPIC_ARN,
      env: { account: ACCOUNT, region: REGION },
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    expect(alarms(template)[0]?.Properties.AlarmActions).toEqual([TOPIC_ARN]);
  });

  it('fails synth on a malformed alarm context read by the stack itself, naming the key', () => {
    expect(
      () =>
        new ScannerStack(newApp({ alarmEmail: 'ops' }), STACK_NAME, {
          tableArn: TABLE_ARN,
          env: { account: ACCOUNT, region: REGION },
        }),
    ).toThrow(/Invalid context "alarmEmail".*received "ops"/);
  });

  it('exposes the AlarmTopic construct for other stacks', () => {
    const { stack, table } = constructScope();
    const alarmTopic = new AlarmTopic(stack, 'Alarms');
    new DynamoDbKinesisScanner(stack, 'Scanner', { table, alarmTopic: alarmTopic.topic });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.resourceCountIs('AWS::SNS::TopicPolicy', 1);
  });
});

describe('readAlarmContext', () => {
  const contextOf =
    (values: Record<string, unknown>) =>
    (key: string): unknown =>
      values[key];

  it('returns nothing without alarm context, and treats empty values as absent', () => {
    expect(readAlarmContext(contextOf({}), REGION)).toEqual({});
    expect(readAlarmContext(contextOf({ alarmEmail: '', alarmTopicArn: '' }), REGION)).toEqual({});
  });

  it('returns a valid email or topic ARN', () => {
    expect(readAlarmContext(contextOf({ alarmEmail: 'ops@example.com' }), REGION)).toEqual({
      alarmEmail: 'ops@example.com',
    });
    expect(readAlarmContext(contextOf({ alarmTopicArn: TOPIC_ARN }), REGION)).toEqual({
      alarmTopicArn: TOPIC_ARN,
    });
  });

  it('rejects a malformed email, naming the key, the value and an example', () => {
    expect(() => readAlarmContext(contextOf({ alarmEmail: 'ops' }), REGION)).toThrow(
      'Invalid context "alarmEmail": expected an email address such as ops@example.com, received "ops".',
    );
  });

  it('rejects a malformed or FIFO topic ARN, naming the key, the value and an example', () => {
    for (const value of ['ops-alarms', `${TOPIC_ARN}.fifo`, `arn:aws:sqs:${REGION}:${ACCOUNT}:ops-alarms`]) {
      expect(() => readAlarmContext(contextOf({ alarmTopicArn: value }), REGION)).toThrow(
        `Invalid context "alarmTopicArn": expected a standard SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:ops-alarms, received ${JSON.stringify(value)}.`,
      );
    }
  });

  it('rejects a topic in another region than the table, where the alarms are', () => {
    const elsewhere = `arn:aws:sns:eu-west-1:${ACCOUNT}:ops-alarms`;
    expect(() => readAlarmContext(contextOf({ alarmTopicArn: elsewhere }), REGION)).toThrow(
      /"alarmTopicArn".*us-east-1.*eu-west-1/,
    );
  });

  it('rejects both keys at once, naming both', () => {
    expect(() =>
      readAlarmContext(contextOf({ alarmEmail: 'ops@example.com', alarmTopicArn: TOPIC_ARN }), REGION),
    ).toThrow(/"alarmEmail".*"alarmTopicArn".*not both/);
  });

  it('is part of readStackContext, checked against the table region', () => {
    expect(readStackContext(contextOf({ tableArn: TABLE_ARN, alarmEmail: 'ops@example.com' }))).toEqual({
      tableArn: TABLE_ARN,
      region: REGION,
      exampleConsumer: false,
      alarmEmail: 'ops@example.com',
    });
    const tableElsewhere = `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/Orders`;
    expect(() => readStackContext(contextOf({ tableArn: tableElsewhere, alarmTopicArn: TOPIC_ARN }))).toThrow(
      /"alarmTopicArn".*eu-west-1.*us-east-1/,
    );
  });
});

/** The dashboard's widgets, its body parsed with references as `<LogicalId>`. */
function dashboardWidgets(template: Template): Record<string, unknown>[] {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body: unknown = JSON.parse(asText(dashboards[0]?.Properties?.DashboardBody));
  if (!isRecord(body) || !Array.isArray(body.widgets)) throw new Error('a dashboard body without widgets');
  return body.widgets as Record<string, unknown>[];
}

/** Every metric row of every graph as `namespace metric dimension=value …`. */
function metricRows(widgets: Record<string, unknown>[]): string[] {
  return widgets.flatMap((widget) => {
    const properties = isRecord(widget.properties) ? widget.properties : {};
    const rows = Array.isArray(properties.metrics) ? properties.metrics : [];
    return rows
      .filter((row): row is unknown[] => Array.isArray(row) && typeof row[0] === 'string')
      .map((row) => {
        const [namespace, metricName, ...rest] = row.filter((part) => typeof part === 'string') as string[];
        const dimensions: string[] = [];
        for (let i = 0; i + 1 < rest.length; i += 2) dimensions.push(`${rest[i]}=${rest[i + 1]}`);
        return [namespace, metricName, ...dimensions].join(' ');
      });
  });
}

describe('dashboard', () => {
  const synth = synthDefault;

  it('graphs the scan progress and throttling from the scanner metrics of this function', () => {
    const { template, functionId } = synth();
    const rows = metricRows(dashboardWidgets(template));
    const dimensions = `FunctionName=<${functionId}> service=${ScannerMetrics.service}`;
    for (const metricName of [
      ScannerMetrics.itemsScanned,
      ScannerMetrics.recordsPut,
      ScannerMetrics.bytesPut,
      ScannerMetrics.handOffs,
      ScannerMetrics.checkpointWrites,
      ScannerMetrics.recordsThrottled,
      ScannerMetrics.segmentsStalled,
      ScannerMetrics.scansFailed,
      ScannerMetrics.scanDuration,
    ]) {
      expect(rows).toContain(`${ScannerMetrics.namespace} ${metricName} ${dimensions}`);
    }
  });

  it("graphs the stream's write throughput and throttling, the function and the failed-invocations queue", () => {
    const { template, functionId, streamId, queueId } = synth();
    const rows = metricRows(dashboardWidgets(template));
    for (const metricName of ['IncomingRecords', 'IncomingBytes', 'WriteProvisionedThroughputExceeded']) {
      expect(rows).toContain(`AWS/Kinesis ${metricName} StreamName=<${streamId}>`);
    }
    for (const metricName of ['Invocations', 'Errors', 'Throttles', 'Duration', 'ConcurrentExecutions']) {
      expect(rows).toContain(`AWS/Lambda ${metricName} FunctionName=<${functionId}>`);
    }
    expect(rows).toContain(`AWS/SQS ApproximateNumberOfMessagesVisible QueueName=<${queueId}.QueueName>`);
  });

  it('shows the state of every alarm and the throttled percentage against its threshold', () => {
    const { template } = synth();
    const widgets = dashboardWidgets(template);
    const alarmWidget = widgets.find((widget) => widget.type === 'alarm');
    const alarmIds = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    expect(isRecord(alarmWidget?.properties) && alarmWidget.properties.alarms).toEqual(
      alarmIds.map((id) => `<${id}.Arn>`),
    );
    const throttling = JSON.stringify(
      widgets.find((widget) => JSON.stringify(widget).includes('FILL(throttled')),
    );
    expect(throttling).toContain('"value":20');
  });

  it('graphs an imported stream by its name', () => {
    const { stack } = stackFromContext({ tableArn: TABLE_ARN, streamArn: STREAM_ARN });
    const rows = metricRows(dashboardWidgets(Template.fromStack(stack)));
    expect(rows).toContain('AWS/Kinesis IncomingBytes StreamName=orders-backfill');
    expect(rows).toContain('AWS/Kinesis WriteProvisionedThroughputExceeded StreamName=orders-backfill');
  });

  it('outputs the dashboard name and its console URL', () => {
    const { template } = synth();
    const dashboardId = onlyLogicalId(template, 'AWS::CloudWatch::Dashboard');
    template.hasOutput('DashboardName', { Value: { Ref: dashboardId } });
    const url = asText(template.findOutputs('DashboardUrl').DashboardUrl?.Value);
    expect(url).toBe(
      `https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#dashboards/dashboard/<${dashboardId}>`,
    );
  });

  it('outputs what the runbook needs: the log group and the failed-invocations queue', () => {
    const { template, queueId } = synth();
    template.hasOutput('LogGroupName', { Value: { Ref: onlyLogicalId(template, 'AWS::Logs::LogGroup') } });
    template.hasOutput('FailedInvocationsQueueUrl', { Value: { Ref: queueId } });
  });

  it('is left out with dashboard: false, keeping the alarms', () => {
    const scanner = newScanner({ dashboard: false });
    const template = Template.fromStack(Stack.of(scanner));
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(scanner.dashboard).toBeUndefined();
    expect(alarms(template)).toHaveLength(5);
  });
});
