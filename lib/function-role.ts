import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * A Lambda execution role that may write logs only to the function's own log group. It replaces
 * the AWSLambdaBasicExecutionRole managed policy, which allows logs:CreateLogGroup,
 * logs:CreateLogStream and logs:PutLogEvents on every log group of the account (cdk-nag
 * AwsSolutions-IAM4). The log group must be passed to the function as its `logGroup`, so it exists
 * before the first invocation and no CreateLogGroup permission is needed.
 *
 * @example
 * const logGroup = new logs.LogGroup(this, 'Logs');
 * const role = createFunctionRole(this, 'ServiceRole', logGroup, 'my function');
 * new lambda.Function(this, 'Fn', { role, logGroup, ... });
 */
export function createFunctionRole(
  scope: Construct,
  id: string,
  logGroup: logs.ILogGroup,
  description: string,
): iam.Role {
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description,
  });
  // logs:CreateLogStream and logs:PutLogEvents on the log group's ARN, which ends in `:*` and so
  // covers its log streams, and on nothing else.
  logGroup.grantWrite(role);
  return role;
}
