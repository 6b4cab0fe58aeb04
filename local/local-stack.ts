import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { type AwsClients, createAwsClients } from '../lambda/adapters/clients';
import { FaultProxy } from './fault-proxy';
import { FaultInjector } from './faults';
import { close } from './http';
import { LocalEventBridge } from './local-eventbridge';
import { LocalLambda, type LocalLambdaOptions } from './local-lambda';
import { LocalSsm, type SsmQuotas } from './local-ssm';

export interface LocalStackOptions {
  /** Ports of the four endpoints; 0 picks free ones. @default 0 for all */
  readonly ports?: {
    readonly dynamodb?: number;
    readonly kinesis?: number;
    readonly ssm?: number;
    readonly lambda?: number;
    readonly eventbridge?: number;
  };
  /** The local Lambda's retries, duplicate deliveries and concurrency limit. @default - each option's default */
  readonly lambda?: LocalLambdaOptions;
  /**
   * Throughput quotas the local SSM enforces, e.g. `AWS_SSM_QUOTAS` for AWS's defaults; they can
   * also be set or lifted later with `stack.ssm.setQuotas()`.
   * @default - no quotas: every call is served
   */
  readonly ssmQuotas?: SsmQuotas;
  /** Decides injected faults for every service; its rule can be set later. */
  readonly faults?: FaultInjector;
  /** @default 'us-east-1' */
  readonly region?: string;
  /**
   * Where dynalite and kinesalite run: in this process, or each in a worker thread of its own
   * (as separate services; the benchmark uses this so their CPU is not the caller's).
   * @default 'in-process'
   */
  readonly emulators?: 'in-process' | 'threads';
}

/** How busy an emulator's thread was: the share of time its event loop was not idle. */
export interface EmulatorLoad {
  /** Event loop utilization since the stack started, or since `since`. */
  utilization(since?: EventLoopUtilization): EventLoopUtilization;
}

export interface LocalStack {
  /** AWS_ENDPOINT_URL_* for the five services (and CloudWatch Logs, on the Lambda's), and the region. */
  readonly env: Readonly<Record<string, string>>;
  readonly ssm: LocalSsm;
  readonly lambda: LocalLambda;
  readonly eventbridge: LocalEventBridge;
  readonly faults: FaultInjector;
  /** SDK clients pointed at the stack, for setting up tables and reading the stream. */
  readonly clients: AwsClients;
  /** Only with `emulators: 'threads'`: how busy each emulator's thread is. */
  readonly load?: { readonly dynamodb: EmulatorLoad; readonly kinesis: EmulatorLoad };
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
  const faults = options.faults ?? new FaultInjector();
  const ssm = new LocalSsm(region, faults);
  ssm.setQuotas(options.ssmQuotas);
  const lambda = new LocalLambda(options.lambda, region, faults);
  const eventbridge = new LocalEventBridge(faults);
  const dynamoOptions = { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 };
  const kinesisOptions = { createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 };
  // The emulators listen on free ports behind fault proxies on the advertised ones.
  const [dynalite, kinesalite] = [emulatorModule('dynalite'), emulatorModule('kinesalite')];
  const [dynamo, kinesis] = await Promise.all(
    options.emulators === 'threads'
      ? [startEmulatorThread(dynalite, dynamoOptions), startEmulatorThread(kinesalite, kinesisOptions)]
      : [
          startEmulator((require(dynalite) as typeof import('dynalite'))(dynamoOptions)),
          startEmulator((require(kinesalite) as typeof import('kinesalite'))(kinesisOptions)),
        ],
  );
  const dynamoProxy = new FaultProxy('dynamodb', dynamo.url, faults);
  const kinesisProxy = new FaultProxy('kinesis', kinesis.url, faults);
  const endpoints = [
    ['DynamoDB', dynamoProxy, ports.dynamodb],
    ['Kinesis', kinesisProxy, ports.kinesis],
    ['SSM', ssm, ports.ssm],
    ['Lambda', lambda, ports.lambda],
    ['EventBridge', eventbridge, ports.eventbridge],
  ] as const;
  const started = await Promise.allSettled(endpoints.map(([, endpoint, port]) => endpoint.start(port ?? 0)));
  const refused = started.findIndex((result) => result.status === 'rejected');
  if (refused !== -1) {
    // Nothing stays open after a failed start: the caller gets the error and its process can end.
    await Promise.all([...endpoints.map(([, endpoint]) => endpoint.stop()), dynamo.stop(), kinesis.stop()]);
    const [service, , port] = endpoints[refused] as (typeof endpoints)[number];
    throw listenError(service, port ?? 0, (started[refused] as PromiseRejectedResult).reason);
  }
  const [dynamodbUrl = '', kinesisUrl = '', ssmUrl = '', lambdaUrl = '', eventbridgeUrl = ''] = started.map(
    (result) => (result as PromiseFulfilledResult<string>).value,
  );
  const env = {
    AWS_REGION: region,
    AWS_ENDPOINT_URL_DYNAMODB: dynamodbUrl,
    AWS_ENDPOINT_URL_KINESIS: kinesisUrl,
    AWS_ENDPOINT_URL_SSM: ssmUrl,
    AWS_ENDPOINT_URL_LAMBDA: lambdaUrl,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventbridgeUrl,
    // The local Lambda serves its functions' logs (FilterLogEvents) too.
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: lambdaUrl,
  };
  const clients = createAwsClients(env);
  return {
    env,
    ssm,
    lambda,
    eventbridge,
    faults,
    clients,
    load: dynamo.load && kinesis.load ? { dynamodb: dynamo.load, kinesis: kinesis.load } : undefined,
    async stop() {
      faults.rule = undefined;
      await lambda.stop();
      await Promise.all([
        ssm.stop(),
        eventbridge.stop(),
        dynamoProxy.stop(),
        kinesisProxy.stop(),
        dynamo.stop(),
        kinesis.stop(),
      ]);
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}

/** A local endpoint that could not listen on its port. */
export class PortInUseError extends Error {
  constructor(
    readonly service: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(`Port ${port} is in use, so the local ${service} endpoint cannot listen on it.`, options);
    this.name = 'PortInUseError';
  }
}

function listenError(service: string, port: number, error: unknown): Error {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
    return new PortInUseError(service, port, { cause: error });
  const reason = error instanceof Error ? error.message : String(error);
  return new Error(`The local ${service} endpoint cannot listen on port ${port}: ${reason}`, {
    cause: error,
  });
}

/**
 * Where an emulator's module is. dynalite and kinesalite are optional dependencies of the
 * package: an install with `--omit=optional` has no local stack, and says how to add it.
 */
function emulatorModule(name: 'dynalite' | 'kinesalite'): string {
  try {
    return require.resolve(name);
  } catch (error) {
    throw new Error(
      `The local stack needs dynalite and kinesalite (DynamoDB and Kinesis emulators), optional dependencies of ` +
        `dynamodb-kinesis-scanner, and ${name} is not installed: npm install --save-dev dynalite@^4 kinesalite@^3`,
      { cause: error },
    );
  }
}

interface RunningEmulator {
  readonly url: string;
  readonly load?: EmulatorLoad;
  stop(): Promise<void>;
}

async function startEmulator(server: Server): Promise<RunningEmulator> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => close(server) };
}

async function startEmulatorThread(module: string, options: object): Promise<RunningEmulator> {
  const worker = new Worker(join(__dirname, 'emulator-worker.cjs'), { workerData: { module, options } });
  const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
  return {
    url: `http://127.0.0.1:${port}`,
    load: { utilization: (since) => worker.performance.eventLoopUtilization(since) },
    stop: async () => {
      await worker.terminate();
    },
  };
}
