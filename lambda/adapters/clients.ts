import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface AwsClients {
  readonly dynamodb: DynamoDBClient;
  readonly kinesis: KinesisClient;
  readonly ssm: SSMClient;
  readonly lambda: LambdaClient;
  readonly eventbridge: EventBridgeClient;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Creates the SDK clients. Endpoints come from `AWS_ENDPOINT_URL_<SERVICE>` in the given
 * environment (as the SDK itself would read them), so one process can point handlers at
 * different local stacks. Every client uses the HTTP/1.1 handler: local emulators reject HTTP/2,
 * which the Kinesis client would otherwise default to.
 */
export function createAwsClients(env: Env = process.env): AwsClients {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  // A hung connection must not eat the invocation's budget: every request has a time limit.
  const common = (service: string, requestTimeout: number) => ({
    region,
    endpoint: env[`AWS_ENDPOINT_URL_${service}`] || undefined,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 3_000,
      requestTimeout,
      throwOnRequestTimeout: true,
      httpAgent: { keepAlive: true },
      httpsAgent: { keepAlive: true },
    }),
  });
  return {
    // Scan throttling is retried by the SDK; a few more attempts than the default 3.
    dynamodb: new DynamoDBClient({ ...common('DYNAMODB', 30_000), maxAttempts: 6 }),
    kinesis: new KinesisClient(common('KINESIS', 30_000)),
    // SSM PutParameter allows about 3 TPS per account; 5 attempts stay within the hand-off margin.
    ssm: new SSMClient({ ...common('SSM', 10_000), maxAttempts: 5 }),
    lambda: new LambdaClient({ ...common('LAMBDA', 10_000), maxAttempts: 5 }),
    eventbridge: new EventBridgeClient({ ...common('EVENTBRIDGE', 10_000), maxAttempts: 5 }),
  };
}
