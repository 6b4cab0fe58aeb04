import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import { type AwsClients, createAwsClients } from '../lambda/adapters/clients';
import { FaultProxy } from './fault-proxy';
import { FaultInjector } from './faults';
import { close } from './http';
import { LocalEventBridge } from './local-eventbridge';
import { LocalLambda, type LocalLambdaOptions } from './local-lambda';
import { LocalSsm } from './local-ssm';

export interface LocalStackOptions {
  /** Ports of the four endpoints; 0 picks free ones. @default 0 for all */
  readonly ports?: {
    readonly dynamodb?: number;
    readonly kinesis?: number;
    readonly ssm?: number;
    readonly lambda?: number;
    readonly eventbridge?: number;
  };
  readonly lambda?: LocalLambdaOptions;
  /** Decides injected faults for every service; its rule can be set later. */
  readonly faults?: FaultInjector;
  /** @default 'us-east-1' */
  readonly region?: string;
}

export interface LocalStack {
  /** AWS_ENDPOINT_URL_* for the five services, and the region. */
  readonly env: Readonly<Record<string, string>>;
  readonly ssm: LocalSsm;
  readonly lambda: LocalLambda;
  readonly eventbridge: LocalEventBridge;
  readonly faults: FaultInjector;
  /** SDK clients pointed at the stack, for setting up tables and reading the stream. */
  readonly clients: AwsClients;
  stop(): Promise<void>;
}

/**
 * Starts the embedded local stack in this process: dynalite (DynamoDB), kinesalite (Kinesis),
 * and the project's own SSM, Lambda and EventBridge endpoints.
 *
 * @example
 * const stack = await startLocalStack();
 * process.env = { ...process.env, ...stack.env }; // the SDK and the AWS CLI now talk to it
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const region = options.region ?? 'us-east-1';
  // Signatures are not checked locally, but the SDK needs credentials to sign with.
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  const ports = options.ports ?? {};
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const kinesis = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
  const faults = options.faults ?? new FaultInjector();
  const ssm = new LocalSsm(region, faults);
  const lambda = new LocalLambda(options.lambda, region, faults);
  const eventbridge = new LocalEventBridge(faults);
  // The emulators listen on free ports behind fault proxies on the advertised ones.
  const [dynamoUpstream, kinesisUpstream] = await Promise.all([
    listenEmulator(dynamo, 0),
    listenEmulator(kinesis, 0),
  ]);
  const dynamoProxy = new FaultProxy('dynamodb', dynamoUpstream, faults);
  const kinesisProxy = new FaultProxy('kinesis', kinesisUpstream, faults);
  const [dynamodbUrl, kinesisUrl, ssmUrl, lambdaUrl, eventbridgeUrl] = await Promise.all([
    dynamoProxy.start(ports.dynamodb ?? 0),
    kinesisProxy.start(ports.kinesis ?? 0),
    ssm.start(ports.ssm ?? 0),
    lambda.start(ports.lambda ?? 0),
    eventbridge.start(ports.eventbridge ?? 0),
  ]);
  const env = {
    AWS_REGION: region,
    AWS_ENDPOINT_URL_DYNAMODB: dynamodbUrl,
    AWS_ENDPOINT_URL_KINESIS: kinesisUrl,
    AWS_ENDPOINT_URL_SSM: ssmUrl,
    AWS_ENDPOINT_URL_LAMBDA: lambdaUrl,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventbridgeUrl,
  };
  const clients = createAwsClients(env);
  return {
    env,
    ssm,
    lambda,
    eventbridge,
    faults,
    clients,
    async stop() {
      faults.rule = undefined;
      await lambda.stop();
      await Promise.all([
        ssm.stop(),
        eventbridge.stop(),
        dynamoProxy.stop(),
        kinesisProxy.stop(),
        close(dynamo),
        close(kinesis),
      ]);
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}

async function listenEmulator(server: Server, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
