import { App, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { expect } from 'vitest';
import { DynamoDbKinesisScanner, type DynamoDbKinesisScannerProps } from '../../lib/dynamodb-kinesis-scanner';
import { readStackContext, ScannerStack } from '../../lib/scanner-stack';
import { version } from '../../package.json';

/** Helpers shared by the stack tests (test/infra). */

/** How alarm descriptions run the CLI: this version of the package, by its npm name. */
export const CLI = `npx dynamodb-kinesis-scanner@${version}`;

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const TABLE_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Orders`;
export const STREAM_ARN = `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/orders-backfill`;
export const STACK_NAME = 'Backfill';

/**
 * Bundling is skipped so the tests stay fast. CloudFormation validation is turned into errors: by
 * default CDK only warns about a dependency cycle or two resources with one physical name, and
 * `app.synth()` would succeed anyway.
 */
export function newApp(context: Record<string, unknown> = {}): App {
  return new App({
    context: { 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:validateAgainstDefaultRules': true, ...context },
  });
}

/**
 * Builds the stack the way bin/app.ts does: context read and checked by readStackContext. The
 * stack reads the alarm context (`alarmEmail`, `alarmTopicArn`) itself.
 */
export function stackFromContext(context: Record<string, string>): { app: App; stack: ScannerStack } {
  const app = newApp(context);
  const read = readStackContext((key) => app.node.tryGetContext(key));
  const stack = new ScannerStack(app, STACK_NAME, {
    tableArn: read.tableArn,
    streamArn: read.streamArn,
    exampleConsumer: read.exampleConsumer,
    env: { account: ACCOUNT, region: read.region },
  });
  return { app, stack };
}

/** A bare stack and table for testing the construct on its own. */
export function constructScope(): { app: App; stack: Stack; table: dynamodb.ITable } {
  const app = newApp();
  const stack = new Stack(app, STACK_NAME, { env: { account: ACCOUNT, region: REGION } });
  return { app, stack, table: dynamodb.Table.fromTableArn(stack, 'Table', TABLE_ARN) };
}

export function newScanner(props: Omit<DynamoDbKinesisScannerProps, 'table'>): DynamoDbKinesisScanner {
  const { stack, table } = constructScope();
  return new DynamoDbKinesisScanner(stack, 'Scanner', { table, ...props });
}

/** Builds once, on first use inside a test, so a construct error fails the tests rather than the file. */
export function once<T>(build: () => T): () => T {
  let built: { readonly value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}

/** The logical id of the one resource of a type, failing when there is not exactly one. */
export function onlyLogicalId(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  expect(ids, `resources of type ${type}`).toHaveLength(1);
  return ids[0] ?? '';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** JSON with sorted keys, so two equal CloudFormation values compare equal as strings. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export function stringLeaves(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringLeaves);
  if (isRecord(value)) return Object.values(value).flatMap(stringLeaves);
  return [];
}

export interface Grant {
  readonly action: string;
  readonly resource: unknown;
}

/**
 * Every (action, resource) pair allowed by every AWS::IAM::Policy in the template. Statements may be
 * merged or split by CDK; pairs are what IAM evaluates. A statement with anything but Effect Allow,
 * Action and Resource (a Condition, NotAction, NotResource, Principal) fails here.
 */
export function collectGrants(template: Template): Grant[] {
  const grants: Grant[] = [];
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    const document: unknown = policy.Properties?.PolicyDocument;
    const statements = isRecord(document) ? asList(document.Statement) : [];
    expect(statements.length, `statements of ${id}`).toBeGreaterThan(0);
    for (const statement of statements) {
      if (!isRecord(statement)) throw new Error(`${id}: a statement is not an object`);
      expect(Object.keys(statement).sort(), `keys of a statement of ${id}`).toEqual([
        'Action',
        'Effect',
        'Resource',
      ]);
      expect(statement.Effect).toBe('Allow');
      for (const action of asList(statement.Action)) {
        if (typeof action !== 'string') throw new Error(`${id}: an action is not a string`);
        for (const resource of asList(statement.Resource)) grants.push({ action, resource });
      }
    }
  }
  return grants;
}

export function describeGrants(grants: readonly Grant[]): string[] {
  return grants.map((grant) => `${grant.action} on ${canonical(grant.resource)}`).sort();
}

export function grantsOn(actions: readonly string[], resources: readonly unknown[]): Grant[] {
  return actions.flatMap((action) => resources.map((resource) => ({ action, resource })));
}

export function getAttArn(logicalId: string): unknown {
  return { 'Fn::GetAtt': [logicalId, 'Arn'] };
}

/**
 * A CloudFormation value as text: `Fn::Join` joined, a `Ref` as `<Id>`, a `Fn::GetAtt` as
 * `<Id.Attribute>`; so an alarm description or a dashboard body can be read (and parsed) as a whole.
 */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isRecord(value)) {
    const join = value['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map(asText).join(join[0]);
    }
    const getAtt = value['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.map(String).join('.')}>`;
    if (typeof value.Ref === 'string') return `<${value.Ref}>`;
  }
  return JSON.stringify(value);
}
