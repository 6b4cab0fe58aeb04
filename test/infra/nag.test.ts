import { type App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { AlarmTopic } from '../../lib/alarm-topic';
import { DynamoDbKinesisScanner } from '../../lib/dynamodb-kinesis-scanner';
import { ACCOUNT, newApp, REGION, STREAM_ARN, stackFromContext, TABLE_ARN } from './support';

/**
 * cdk-nag 3 is a policy validation plugin: registered on the app, it fails `app.synth()` on any
 * unacknowledged finding, errors and warnings alike. `validateScope` runs the same rules directly
 * and lists the findings, for a readable failure.
 */
function expectNagClean(app: App, stack: Stack): void {
  const findings = new AwsSolutionsChecks()
    .validateScope(stack)
    .violations.flatMap((violation) =>
      violation.violatingResources.map(
        (resource) => `${violation.severity} ${violation.ruleName} at ${resource.constructPath}`,
      ),
    );
  expect(findings).toEqual([]);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  expect(() => app.synth()).not.toThrow();
}

/** Every acknowledgement in the tree: `<path>: <rule id>` with its reason. */
function acknowledgements(root: IConstruct): { where: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          where: `${construct.node.path}: ${id.replace(/^annotation::/i, '')}`,
          reason,
        })),
      ),
  );
}

const SSM_PATH_FINDING = (parameterId: string, region: string, account: string) =>
  `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:${region}:${account}:parameter<${parameterId}>/*]`;

describe('cdk-nag AwsSolutions', () => {
  const variants: [string, Record<string, string>][] = [
    ['a new stream', { tableArn: TABLE_ARN }],
    ['an imported stream', { tableArn: TABLE_ARN, streamArn: STREAM_ARN }],
    ['the example consumer', { tableArn: TABLE_ARN, exampleConsumer: 'true' }],
    ['an alarm topic by email', { tableArn: TABLE_ARN, alarmEmail: 'ops@example.com' }],
    [
      'an imported alarm topic',
      { tableArn: TABLE_ARN, alarmTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:ops-alarms` },
    ],
  ];

  it.each(variants)('finds nothing unacknowledged in the stack with %s', (_name, context) => {
    const { app, stack } = stackFromContext(context);
    expectNagClean(app, stack);
  });

  it('finds nothing unacknowledged in an environment-agnostic stack with an AlarmTopic', () => {
    const app = newApp();
    const stack = new Stack(app, 'Agnostic');
    const table = dynamodb.Table.fromTableArn(stack, 'Table', TABLE_ARN);
    const alarmTopic = new AlarmTopic(stack, 'Alarms', { email: 'ops@example.com' }).topic;
    new DynamoDbKinesisScanner(stack, 'Scanner', { table, alarmTopic });
    expectNagClean(app, stack);
  });

  it('reports a finding nobody acknowledged, so the checks above can fail', () => {
    const { app, stack } = stackFromContext({ tableArn: TABLE_ARN });
    new sqs.Queue(stack, 'Unreviewed');
    const rules = new AwsSolutionsChecks()
      .validateScope(stack)
      .violations.map((violation) => violation.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions/);
  });

  it('acknowledges only the reviewed findings, each with a reason next to its construct', () => {
    const { stack } = stackFromContext({ tableArn: TABLE_ARN, exampleConsumer: 'true' });
    const parameterId = stack.getLogicalId(stack.scanner.parameter.node.defaultChild as CfnElement);
    const found = acknowledgements(stack);
    // addConsumer names a failure queue after the consumer's unique id.
    const where = found.map((ack) => ack.where.replace(/ConsumerFailures\w+/, 'ConsumerFailures…'));
    expect(where.sort()).toEqual(
      [
        'Backfill/ConsumerIdempotency: AwsSolutions-DDB3',
        'Backfill/ExampleConsumer: AwsSolutions-L1',
        'Backfill/Scanner/Function: AwsSolutions-L1',
        'Backfill/Scanner/ConsumerFailures…: AwsSolutions-SQS3',
        'Backfill/Scanner/ConsumerProgress: AwsSolutions-DDB3',
        'Backfill/Scanner/FailedInvocations: AwsSolutions-SQS3',
        'Backfill/Scanner/FailureCounter: AwsSolutions-L1',
        `Backfill/Scanner/ServiceRole/DefaultPolicy: ${SSM_PATH_FINDING(parameterId, REGION, ACCOUNT)}`,
      ].sort(),
    );
    for (const ack of found) expect(ack.reason.length, ack.where).toBeGreaterThan(150);
  });
});
