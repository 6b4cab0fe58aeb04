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
  // The SDK resends a request whose answer was lost or failed; each client below says why that
  // is safe for every call the scanner makes with it, or turns it off.
  return {
    // Scan and DescribeTable only read. Scan throttling is retried: a few more attempts than 3.
    dynamodb: new DynamoDBClient({ ...common('DYNAMODB', 30_000), maxAttempts: 6 }),
    // PutRecords sent twice puts its records twice: delivery is at least once, and consumers
    // drop repeats by eventID (README, Guarantees). DescribeStreamSummary only reads.
    kinesis: new KinesisClient(common('KINESIS', 30_000)),
    // Gets and deletes are idempotent; an overwrite writes the same value again, and a chain's
    // parameter has no other writer while its owner's write is in flight (a successor is launched
    // after it returns). A create-if-absent resent after it succeeded meets its own value, which
    // the store recognises by the claim's holder. PutParameter allows about 3 a second per
    // account; 5 attempts stay within the hand-off margin.
    ssm: new SSMClient({ ...common('SSM', 10_000), maxAttempts: 5 }),
    // An async Invoke sent twice delivers its event twice, as Lambda itself may: the second
    // invocation of a generation finds it owned (or its hand-off token spent) and exits.
    lambda: new LambdaClient({ ...common('LAMBDA', 10_000), maxAttempts: 5 }),
    // PutEvents has no idempotency token: never resent by the SDK. The publisher resends only
    // what EventBridge answered it did not publish.
    eventbridge: new EventBridgeClient({ ...common('EVENTBRIDGE', 10_000), maxAttempts: 1 }),
  };
}
