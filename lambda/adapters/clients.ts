import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface AwsClients {
  readonly dynamodb: DynamoDBClient;
  readonly kinesis: KinesisClient;
  readonly ssm: SSMClient;
  readonly lambda: LambdaClient;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Creates the SDK clients. Endpoints come from `AWS_ENDPOINT_URL_<SERVICE>` in the given
 * environment (as the SDK itself would read them), so one process can point handlers at
 * different local stacks. Kinesis uses the HTTP/1.1 handler: local emulators reject HTTP/2.
 */
export function createAwsClients(env: Env = process.env): AwsClients {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const common = (service: string) => ({ region, endpoint: env[`AWS_ENDPOINT_URL_${service}`] || undefined });
  return {
    // Scan throttling is retried by the SDK; a few more attempts than the default 3.
    dynamodb: new DynamoDBClient({ ...common('DYNAMODB'), maxAttempts: 6 }),
    kinesis: new KinesisClient({
      ...common('KINESIS'),
      requestHandler: new NodeHttpHandler({
        httpAgent: { keepAlive: true },
        httpsAgent: { keepAlive: true },
      }),
    }),
    // SSM PutParameter allows about 3 TPS per account: back off for longer.
    ssm: new SSMClient({ ...common('SSM'), maxAttempts: 8 }),
    lambda: new LambdaClient({ ...common('LAMBDA'), maxAttempts: 5 }),
  };
}
