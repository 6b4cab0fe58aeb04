import { Console } from 'node:console';
import { join } from 'node:path';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';
import {
  DeleteParameterCommand,
  DeleteParametersCommand,
  DescribeParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDemoTable, mulberry32, writeItems } from '../../local/demo-data';
import { FaultInjector } from '../../local/faults';
import { LocalLambda } from '../../local/local-lambda';
import { AWS_SSM_QUOTAS, LocalSsm } from '../../local/local-ssm';
import { type LocalStack, startLocalStack } from '../../local/local-stack';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A gate that handlers wait on until the test opens it. */
function gate(): { readonly wait: Promise<void>; open(): void } {
  let open: () => void = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('the local SSM endpoint, through the real SDK client', () => {
  const faults = new FaultInjector();
  const ssm = new LocalSsm('us-east-1', faults);
  let client: SSMClient;
  beforeAll(async () => {
    client = new SSMClient({ endpoint: await ssm.start(), region: 'us-east-1', maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await ssm.stop();
  });

  it('creates, versions and reads a parameter', async () => {
    expect(
      await client.send(new PutParameterCommand({ Name: '/a/one', Value: 'v1', Type: 'String' })),
    ).toMatchObject({
      Version: 1,
      Tier: 'Standard',
    });
    await client.send(new PutParameterCommand({ Name: '/a/one', Value: 'v2', Overwrite: true }));
    const { Parameter } = await client.send(new GetParameterCommand({ Name: '/a/one' }));
    expect(Parameter).toMatchObject({ Name: '/a/one', Value: 'v2', Version: 2, Type: 'String' });
    expect(Parameter?.LastModifiedDate).toBeInstanceOf(Date);
  });

  it('refuses to overwrite without Overwrite, with ParameterAlreadyExists', async () => {
    await client.send(new PutParameterCommand({ Name: '/a/two', Value: 'x', Type: 'String' }));
    await expect(client.send(new PutParameterCommand({ Name: '/a/two', Value: 'y' }))).rejects.toMatchObject({
      name: 'ParameterAlreadyExists',
    });
  });

  it('answers ParameterNotFound for a missing parameter, on read and delete', async () => {
    await expect(client.send(new GetParameterCommand({ Name: '/nope' }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
    await expect(client.send(new DeleteParameterCommand({ Name: '/nope' }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
  });

  it('enforces the 4,096-character Standard limit and lets Intelligent-Tiering go to 8,192', async () => {
    await expect(
      client.send(new PutParameterCommand({ Name: '/big/std', Value: 'x'.repeat(4097), Type: 'String' })),
    ).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('4096') });
    expect(
      await client.send(
        new PutParameterCommand({
          Name: '/big/it',
          Value: 'x'.repeat(8192),
          Type: 'String',
          Tier: 'Intelligent-Tiering',
        }),
      ),
    ).toMatchObject({ Tier: 'Advanced' });
    await expect(
      client.send(
        new PutParameterCommand({
          Name: '/big/it',
          Value: 'x'.repeat(8193),
          Overwrite: true,
          Tier: 'Intelligent-Tiering',
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('lists a path ten at a time, children only unless recursive', async () => {
    for (let i = 0; i < 23; i++)
      await client.send(
        new PutParameterCommand({ Name: `/p/c${String(i).padStart(2, '0')}`, Value: 'v', Type: 'String' }),
      );
    await client.send(new PutParameterCommand({ Name: '/p/deeper/x', Value: 'v', Type: 'String' }));
    const names: string[] = [];
    let token: string | undefined;
    let calls = 0;
    do {
      const page = await client.send(new GetParametersByPathCommand({ Path: '/p', NextToken: token }));
      expect(page.Parameters?.length).toBeLessThanOrEqual(10);
      names.push(...(page.Parameters ?? []).map((p) => p.Name ?? ''));
      token = page.NextToken;
      calls++;
    } while (token);
    expect(calls).toBe(3);
    expect(names).toHaveLength(23);
    const recursive = await client.send(
      new GetParametersByPathCommand({ Path: '/p/deeper', Recursive: true }),
    );
    expect(recursive.Parameters?.map((p) => p.Name)).toEqual(['/p/deeper/x']);
  });

  it('reads up to ten parameters at once, naming the missing ones', async () => {
    await client.send(new PutParameterCommand({ Name: '/many/a', Value: 'A', Type: 'String' }));
    await client.send(new PutParameterCommand({ Name: '/many/b', Value: 'B', Type: 'String' }));
    const output = await client.send(
      new GetParametersCommand({ Names: ['/many/a', '/many/missing', '/many/b', 'bad name!'] }),
    );
    expect(output.Parameters?.map((p) => [p.Name, p.Value, p.Version])).toEqual([
      ['/many/a', 'A', 1],
      ['/many/b', 'B', 1],
    ]);
    expect(output.InvalidParameters).toEqual(['/many/missing', 'bad name!']);
    await expect(
      client.send(new GetParametersCommand({ Names: Array.from({ length: 11 }, (_, i) => `/many/${i}`) })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('keeps the last 100 versions of a parameter, oldest first, fifty a page', async () => {
    for (let v = 1; v <= 103; v++) {
      await client.send(
        new PutParameterCommand({ Name: '/history/p', Value: `v${v}`, Type: 'String', Overwrite: true }),
      );
    }
    const pages = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new GetParameterHistoryCommand({ Name: '/history/p', NextToken: token }),
      );
      pages.push(page);
      token = page.NextToken;
    } while (token !== undefined);
    const versions = pages.flatMap((page) => page.Parameters ?? []);
    expect(pages.map((page) => page.Parameters?.length)).toEqual([50, 50]);
    expect(versions.map((p) => p.Version)).toEqual(Array.from({ length: 100 }, (_, i) => i + 4));
    expect(versions.at(-1)).toMatchObject({ Value: 'v103', Name: '/history/p' });
    expect(pages[0]?.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    await expect(
      client.send(new GetParameterHistoryCommand({ Name: '/history/none' })),
    ).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
  });

  it('describes parameters by name prefix or path, without their values', async () => {
    await client.send(new PutParameterCommand({ Name: '/desc/a', Value: 'A', Type: 'String' }));
    await client.send(new PutParameterCommand({ Name: '/desc/deep/b', Value: 'B', Type: 'String' }));
    const byPath = await client.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: ['/desc'] }],
      }),
    );
    expect(byPath.Parameters?.map((p) => p.Name)).toEqual(['/desc/a']);
    expect(byPath.Parameters?.[0]).not.toHaveProperty('Value');
    const byName = await client.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Name', Option: 'BeginsWith', Values: ['/desc/'] }],
      }),
    );
    expect(byName.Parameters?.map((p) => p.Name).sort()).toEqual(['/desc/a', '/desc/deep/b']);
  });

  it('counts the parameters it stores', async () => {
    const before = ssm.parameterCount();
    await client.send(new PutParameterCommand({ Name: '/count/a', Value: 'v', Type: 'String' }));
    await client.send(new PutParameterCommand({ Name: '/count/a', Value: 'w', Overwrite: true }));
    await client.send(new PutParameterCommand({ Name: '/count/b', Value: 'v', Type: 'String' }));
    expect(ssm.parameterCount()).toBe(before + 2);
    await client.send(new DeleteParametersCommand({ Names: ['/count/a', '/count/b'] }));
    expect(ssm.parameterCount()).toBe(before);
    expect(ssm.parameterCount()).toBe(ssm.names().length);
  });

  it('injects a chosen fault, such as throttling', async () => {
    faults.rule = ({ operation }) =>
      operation === 'PutParameter'
        ? { kind: 'error', name: 'ThrottlingException', message: 'Rate exceeded' }
        : undefined;
    await expect(
      client.send(new PutParameterCommand({ Name: '/t', Value: 'v', Type: 'String' })),
    ).rejects.toMatchObject({
      name: 'ThrottlingException',
      message: 'Rate exceeded',
    });
    faults.rule = undefined;
  });
});

describe('the local SSM endpoint with throughput quotas', () => {
  const ssm = new LocalSsm();
  let client: SSMClient;
  let retrying: SSMClient;
  beforeAll(async () => {
    const endpoint = await ssm.start();
    // One attempt, so a throttled call surfaces instead of being retried.
    client = new SSMClient({ endpoint, region: 'us-east-1', maxAttempts: 1 });
    retrying = new SSMClient({ endpoint, region: 'us-east-1', maxAttempts: 2 });
  });
  afterAll(async () => {
    client.destroy();
    retrying.destroy();
    await ssm.stop();
  });
  const put = (name: string) =>
    client.send(new PutParameterCommand({ Name: name, Value: 'v', Type: 'String', Overwrite: true }));
  /** Runs the calls all at once; the accepted count and the refusals. */
  async function burst(calls: (() => Promise<unknown>)[]): Promise<{ accepted: number; refused: unknown[] }> {
    const results = await Promise.allSettled(calls.map((call) => call()));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    return { accepted: results.length - refused.length, refused };
  }
  /** Calls a bucket can have accepted: its capacity plus what it refilled meanwhile. */
  const mostAccepted = (capacity: number, perSecond: number, startedAt: number) =>
    capacity + Math.ceil((perSecond * (performance.now() - startedAt)) / 1000);
  const rateExceeded = {
    name: 'ThrottlingException',
    message: 'Rate exceeded',
    $metadata: expect.objectContaining({ httpStatusCode: 400 }),
  };

  it('refuses writes beyond the bucket with ThrottlingException: Rate exceeded', async () => {
    ssm.setQuotas(AWS_SSM_QUOTAS);
    ssm.resetStats();
    const startedAt = performance.now();
    const { accepted, refused } = await burst(Array.from({ length: 12 }, (_, i) => () => put(`/w/${i}`)));
    // The bucket starts with one second's worth: 3 writes, plus whatever it refilled during the burst.
    expect(accepted).toBeGreaterThanOrEqual(3);
    expect(accepted).toBeLessThanOrEqual(mostAccepted(3, 3, startedAt));
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) expect(error).toMatchObject(rateExceeded);
    expect(ssm.throttled.PutParameter).toBe(refused.length);
    expect(ssm.calls.PutParameter).toBe(12);
    expect(ssm.writeTimeline()).toHaveLength(accepted);
    expect(ssm.parameterCount()).toBe(accepted);
  });

  it('draws every read from one bucket of its own, apart from the writes', async () => {
    // Reads refill at 1 a second, so the shared bucket shows even when the machine is slow.
    ssm.setQuotas({ writesPerSecond: 3, readsPerSecond: 1, readBurst: 4 });
    await put('/r/x');
    ssm.resetStats();
    const writes = await burst(Array.from({ length: 12 }, (_, i) => () => put(`/w/${i}`)));
    expect(writes.refused.length).toBeGreaterThan(0);
    const startedAt = performance.now();
    const outcomes: ('ok' | 'throttled')[] = [];
    const reads = [
      () => client.send(new GetParameterCommand({ Name: '/r/x' })),
      () => client.send(new GetParametersCommand({ Names: ['/r/x'] })),
      () => client.send(new GetParametersByPathCommand({ Path: '/r' })),
    ];
    for (let i = 0; i < 12; i++) {
      const read = reads[i % reads.length];
      await read?.().then(
        () => outcomes.push('ok'),
        (error: unknown) => {
          expect(error).toMatchObject(rateExceeded);
          outcomes.push('throttled');
        },
      );
    }
    const served = outcomes.filter((outcome) => outcome === 'ok').length;
    // The spent write bucket takes nothing from the reads; the three read operations share one bucket.
    expect(outcomes.slice(0, 4)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(served).toBeLessThanOrEqual(mostAccepted(4, 1, startedAt));
    const throttledReads = ['GetParameter', 'GetParameters', 'GetParametersByPath'].map(
      (operation) => ssm.throttled[operation] ?? 0,
    );
    expect(throttledReads.reduce((a, b) => a + b)).toBe(12 - served);
  });

  it('serves a write again once the bucket has refilled', async () => {
    ssm.setQuotas(AWS_SSM_QUOTAS);
    await burst(Array.from({ length: 12 }, (_, i) => () => put(`/w/${i}`)));
    const wait = ssm.refillMs('write');
    expect(wait).toBeLessThanOrEqual(Math.ceil(1000 / AWS_SSM_QUOTAS.writesPerSecond));
    expect(ssm.refillMs('write', 3)).toBeLessThanOrEqual(1000);
    expect(ssm.refillMs('read')).toBe(0);
    // Timers may fire up to a millisecond early.
    await sleep(wait + 1);
    await expect(put('/w/again')).resolves.toMatchObject({ Version: 1 });
  });

  it('throttles in a way the SDK retries', async () => {
    // One write in ten seconds: the retry, at most a second later, finds the bucket still empty.
    ssm.setQuotas({ writesPerSecond: 0.1, readsPerSecond: 40, writeBurst: 1 });
    await put('/w/0');
    const throttledBefore = ssm.throttled.PutParameter ?? 0;
    // A 400 is retried only when the SDK classifies it as throttling.
    await expect(
      retrying.send(new PutParameterCommand({ Name: '/w/1', Value: 'v', Type: 'String', Overwrite: true })),
    ).rejects.toMatchObject({ ...rateExceeded, $metadata: expect.objectContaining({ attempts: 2 }) });
    expect((ssm.throttled.PutParameter ?? 0) - throttledBefore).toBe(2);
  });

  it('keeps peak and mean accepted writes per second', async () => {
    ssm.setQuotas({ writesPerSecond: 3, readsPerSecond: 40, writeBurst: 5 });
    ssm.resetStats();
    const { accepted } = await burst(Array.from({ length: 12 }, (_, i) => () => put(`/w/${i}`)));
    const rate = ssm.writeRate();
    expect(rate.total).toBe(accepted);
    // Within one whole second the bucket passes at most its capacity plus one second's refill.
    expect(rate.peak).toBeLessThanOrEqual(5 + 3);
    // The writes fall in `seconds` whole seconds, so the busiest holds at least its share.
    expect(rate.peak * rate.seconds).toBeGreaterThanOrEqual(rate.total);
    expect(rate.mean).toBeCloseTo(rate.total / rate.seconds);
    const timeline = ssm.writeTimeline();
    expect(timeline).toHaveLength(accepted);
    const first = timeline[0] ?? 0;
    const last = timeline.at(-1) ?? 0;
    expect(ssm.writeRate({ fromMs: first, toMs: last + 1 })).toMatchObject({
      total: accepted,
      seconds: (last + 1 - first) / 1000,
    });
    expect(ssm.writeRate({ fromMs: 0, toMs: first })).toMatchObject({ total: 0, peak: 0, mean: 0 });
  });

  it('serves everything once the quotas are lifted', async () => {
    ssm.setQuotas(undefined);
    const { refused } = await burst(Array.from({ length: 12 }, (_, i) => () => put(`/w/${i}`)));
    expect(refused).toEqual([]);
    expect(ssm.refillMs('write')).toBe(0);
  });

  it('refuses a quota that could never serve a call, saying what it received', () => {
    expect(() => ssm.setQuotas({ writesPerSecond: 0, readsPerSecond: 40 })).toThrow(
      'SSM quotas: writesPerSecond must be a positive number; received 0.',
    );
    expect(() => ssm.setQuotas({ writesPerSecond: 3, readsPerSecond: 40, readBurst: 0.5 })).toThrow(
      'SSM quotas: readBurst must be at least 1; received 0.5.',
    );
  });
});

describe('the local Lambda endpoint, through the real SDK client', () => {
  const lambda = new LocalLambda({ asyncRetryDelaysMs: [10, 20], duplicateDelivery: false });
  const twice = new LocalLambda({ asyncRetryDelaysMs: [], duplicateDelivery: true });
  let client: LambdaClient;
  let twiceClient: LambdaClient;
  const seen: unknown[] = [];
  let failures = 0;
  beforeAll(async () => {
    lambda.register(
      'echo',
      async (event, context) => ({ event, remaining: context.getRemainingTimeInMillis() }),
      { timeoutMs: 5000 },
    );
    lambda.register(
      'flaky',
      async (event) => {
        seen.push(event);
        if (failures-- > 0) throw new Error('boom');
        return 'ok';
      },
      { timeoutMs: 5000 },
    );
    lambda.register('slow', () => new Promise((resolve) => setTimeout(resolve, 300)), { timeoutMs: 50 });
    twice.register(
      'count',
      async (event) => {
        seen.push(event);
      },
      { timeoutMs: 1000 },
    );
    client = new LambdaClient({ endpoint: await lambda.start(), region: 'us-east-1', maxAttempts: 1 });
    twiceClient = new LambdaClient({ endpoint: await twice.start(), region: 'us-east-1', maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    twiceClient.destroy();
    await lambda.stop();
    await twice.stop();
  });
  const payload = (value: unknown) => Buffer.from(JSON.stringify(value));
  const body = (bytes: Uint8Array | undefined): unknown =>
    JSON.parse(Buffer.from(bytes ?? []).toString('utf8'));

  it('answers a RequestResponse invoke with the result and the remaining time within the timeout', async () => {
    const output = await client.send(new InvokeCommand({ FunctionName: 'echo', Payload: payload({ a: 1 }) }));
    expect(output.StatusCode).toBe(200);
    const result = body(output.Payload) as { event: unknown; remaining: number };
    expect(result.event).toEqual({ a: 1 });
    expect(result.remaining).toBeGreaterThan(4000);
    expect(result.remaining).toBeLessThanOrEqual(5000);
  });

  it('describes its functions as GetFunction, GetFunctionConfiguration and ListFunctions do', async () => {
    const fn = await client.send(new GetFunctionCommand({ FunctionName: 'echo' }));
    expect(fn.Configuration).toMatchObject({
      FunctionName: 'echo',
      Runtime: 'nodejs22.x',
      Timeout: 5,
      State: 'Active',
    });
    expect(fn.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await client.send(new GetFunctionConfigurationCommand({ FunctionName: 'echo' }))).toMatchObject({
      FunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:echo',
    });
    const list = await client.send(new ListFunctionsCommand({}));
    expect(list.Functions?.map((f) => f.FunctionName).sort()).toEqual(['echo', 'flaky', 'slow']);
    await expect(client.send(new GetFunctionCommand({ FunctionName: 'nope' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('keeps what each invocation writes in its log group, served as FilterLogEvents', async () => {
    const quiet = new LocalLambda({ echoLogs: false });
    // As Powertools Logger writes outside Lambda's dev mode: a Console on process.stdout.
    const out = new Console({ stdout: process.stdout, stderr: process.stderr });
    quiet.register(
      'talk',
      async (event) => {
        const { word } = event as { word: string };
        out.info(JSON.stringify({ level: 'INFO', message: `said ${word}` }));
        // A line in pieces, one of them bytes, is one line.
        process.stdout.write('plain ');
        process.stdout.write(Buffer.from(`${word}\n`));
      },
      { timeoutMs: 5000 },
    );
    const endpoint = await quiet.start();
    const invoker = new LambdaClient({ endpoint, region: 'us-east-1', maxAttempts: 1 });
    const logs = new CloudWatchLogsClient({ endpoint, region: 'us-east-1', maxAttempts: 1 });
    try {
      await Promise.all(
        ['one', 'two'].map((word) =>
          invoker.send(new InvokeCommand({ FunctionName: 'talk', Payload: payload({ word }) })),
        ),
      );
      const { events = [] } = await logs.send(
        new FilterLogEventsCommand({ logGroupName: '/aws/lambda/talk', filterPattern: '"two"' }),
      );
      expect(events.map((e) => e.message)).toEqual(['{"level":"INFO","message":"said two"}', 'plain two']);
      const all = await logs.send(
        new FilterLogEventsCommand({ logGroupName: '/aws/lambda/talk', filterPattern: 'START' }),
      );
      expect(all.events).toHaveLength(2);
      // Pages go on after the last event returned.
      const first = await logs.send(
        new FilterLogEventsCommand({ logGroupName: '/aws/lambda/talk', limit: 3 }),
      );
      const rest = await logs.send(
        new FilterLogEventsCommand({
          logGroupName: '/aws/lambda/talk',
          limit: 100,
          nextToken: first.nextToken,
        }),
      );
      expect((first.events?.length ?? 0) + (rest.events?.length ?? 0)).toBe(10);
      expect(rest.nextToken).toBeUndefined();
      await expect(
        logs.send(
          new FilterLogEventsCommand({
            logGroupName: '/aws/lambda/talk',
            filterPattern: '{ $.level = "INFO" }',
          }),
        ),
      ).rejects.toMatchObject({ name: 'InvalidParameterException' });
      await expect(
        logs.send(new FilterLogEventsCommand({ logGroupName: '/aws/lambda/nope' })),
      ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    } finally {
      invoker.destroy();
      logs.destroy();
      await quiet.stop();
    }
  });

  it("returns the invocation's log tail, under its request id, for --log-type Tail", async () => {
    const output = await client.send(
      new InvokeCommand({ FunctionName: 'echo', Payload: payload({}), LogType: 'Tail' }),
    );
    const tail = Buffer.from(output.LogResult ?? '', 'base64').toString('utf8');
    const requestId = output.$metadata.requestId ?? '';
    expect(tail).toContain(`START RequestId: ${requestId} Version: $LATEST`);
    expect(tail).toMatch(new RegExp(`REPORT RequestId: ${requestId}\\tDuration: [0-9.]+ ms`));
  });

  it('reports a function error as Unhandled with its type and message', async () => {
    failures = 1;
    const output = await client.send(new InvokeCommand({ FunctionName: 'flaky', Payload: payload({}) }));
    expect(output.FunctionError).toBe('Unhandled');
    expect(body(output.Payload)).toMatchObject({ errorType: 'Error', errorMessage: 'boom' });
  });

  it('fails an invocation that outlasts its timeout', async () => {
    const output = await client.send(new InvokeCommand({ FunctionName: 'slow', Payload: payload({}) }));
    expect(output.FunctionError).toBe('Unhandled');
    expect(body(output.Payload)).toMatchObject({ errorMessage: 'Task timed out after 0.05 seconds' });
  });

  it('accepts an Event invoke with 202 and retries a failing event twice', async () => {
    seen.length = 0;
    failures = 5;
    const retriesBefore = lambda.stats.retries;
    const output = await client.send(
      new InvokeCommand({ FunctionName: 'flaky', InvocationType: 'Event', Payload: payload({ n: 1 }) }),
    );
    expect(output.StatusCode).toBe(202);
    await lambda.idle();
    expect(seen).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    expect(lambda.stats.retries - retriesBefore).toBe(2);
    expect(lambda.stats.dropped).toBeGreaterThanOrEqual(1);
    failures = 0;
  });

  it('delivers each async event twice when asked to', async () => {
    seen.length = 0;
    await twiceClient.send(
      new InvokeCommand({ FunctionName: 'count', InvocationType: 'Event', Payload: payload({ n: 2 }) }),
    );
    await twice.idle();
    expect(seen).toEqual([{ n: 2 }, { n: 2 }]);
  });

  it('answers ResourceNotFoundException for an unknown function', async () => {
    await expect(
      client.send(new InvokeCommand({ FunctionName: 'ghost', Payload: payload({}) })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('rejects a payload that is not JSON', async () => {
    await expect(
      client.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from('{not json') })),
    ).rejects.toMatchObject({ name: 'InvalidRequestContentException' });
  });
});

describe('the local Lambda endpoint with a concurrency limit', () => {
  const lambda = new LocalLambda({ asyncRetryDelaysMs: [], concurrency: 2 });
  let client: LambdaClient;
  let held = gate();
  let started = 0;
  const delivered: unknown[] = [];
  const payload = (value: unknown) => Buffer.from(JSON.stringify(value));
  beforeAll(async () => {
    lambda.register(
      'held',
      async (event) => {
        started++;
        await held.wait;
        delivered.push(event);
        return event;
      },
      { timeoutMs: 10_000 },
    );
    client = new LambdaClient({ endpoint: await lambda.start(), region: 'us-east-1', maxAttempts: 1 });
  });
  afterAll(async () => {
    held.open();
    client.destroy();
    await lambda.stop();
  });
  const invoke = (n: number, type: 'Event' | 'RequestResponse') =>
    client.send(new InvokeCommand({ FunctionName: 'held', InvocationType: type, Payload: payload({ n }) }));

  it('queues async events beyond the limit and delivers every one, never more at once', async () => {
    held = gate();
    const outputs = await Promise.all(Array.from({ length: 10 }, (_, n) => invoke(n, 'Event')));
    expect(outputs.map((output) => output.StatusCode)).toEqual(Array(10).fill(202));
    // Two run and hold their slots; the other eight wait for one.
    await vi.waitFor(
      () => {
        expect(lambda.stats.throttled).toBe(8);
        expect(started).toBe(2);
      },
      { timeout: 5000 },
    );
    held.open();
    await lambda.idle();
    expect(delivered.map((event) => (event as { n: number }).n).sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(lambda.stats.peakConcurrency).toBe(2);
    // Waiting for a slot is not a failed attempt.
    expect(lambda.stats).toMatchObject({ invocations: 10, errors: 0, retries: 0, dropped: 0 });
  });

  it('refuses a RequestResponse invoke beyond the limit with TooManyRequestsException', async () => {
    held = gate();
    started = 0;
    const throttledBefore = lambda.stats.throttled;
    const running = [invoke(100, 'RequestResponse'), invoke(101, 'RequestResponse')];
    await vi.waitFor(() => expect(started).toBe(2), { timeout: 5000 });
    await expect(invoke(102, 'RequestResponse')).rejects.toMatchObject({
      name: 'TooManyRequestsException',
      message: 'Rate Exceeded.',
      Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      $metadata: expect.objectContaining({ httpStatusCode: 429 }),
    });
    expect(lambda.stats.throttled - throttledBefore).toBe(1);
    held.open();
    expect((await Promise.all(running)).map((output) => output.StatusCode)).toEqual([200, 200]);
    await expect(invoke(103, 'RequestResponse')).resolves.toMatchObject({ StatusCode: 200 });
    expect(lambda.stats.peakConcurrency).toBe(2);
  });

  it('refuses a limit that is not a whole number of at least 1', () => {
    expect(() => new LocalLambda({ concurrency: 0 })).toThrow(
      'concurrency must be a whole number of at least 1; received 0.',
    );
  });
});

describe('the local Lambda endpoint delivering some async events twice', () => {
  const lambda = new LocalLambda({
    asyncRetryDelaysMs: [],
    duplicateFraction: 0.5,
    duplicateMaxDelayMs: 100,
    random: mulberry32(7),
  });
  let client: LambdaClient;
  const seen: number[] = [];
  beforeAll(async () => {
    lambda.register(
      'count',
      async (event) => {
        seen.push((event as { n: number }).n);
      },
      { timeoutMs: 1000 },
    );
    client = new LambdaClient({ endpoint: await lambda.start(), region: 'us-east-1', maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await lambda.stop();
  });

  it('delivers the chosen share a second time and counts each duplicate', async () => {
    for (let n = 0; n < 20; n++) {
      await client.send(
        new InvokeCommand({
          FunctionName: 'count',
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify({ n })),
        }),
      );
    }
    await lambda.idle();
    const times = new Map<number, number>();
    for (const n of seen) times.set(n, (times.get(n) ?? 0) + 1);
    expect([...times.keys()].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect([...times.values()].every((count) => count === 1 || count === 2)).toBe(true);
    const twice = [...times.values()].filter((count) => count === 2).length;
    expect(lambda.stats.duplicates).toBe(twice);
    expect(twice).toBeGreaterThan(0);
    expect(twice).toBeLessThan(20);
    expect(seen).toHaveLength(20 + twice);
  });

  it('refuses both duplicate options at once and a share outside 0 to 1', () => {
    expect(() => new LocalLambda({ duplicateDelivery: true, duplicateFraction: 0.1 })).toThrow('not both');
    expect(() => new LocalLambda({ duplicateFraction: 1.5 })).toThrow(
      'duplicateFraction must be between 0 and 1; received 1.5.',
    );
  });
});

describe('the local Lambda endpoint with isolated containers', () => {
  const faults = new FaultInjector();
  const lambda = new LocalLambda({ asyncRetryDelaysMs: [] }, 'us-east-1', faults);
  let client: LambdaClient;
  const modulePath = join(__dirname, 'fixtures', 'echo-handler.ts');
  const payload = (value: unknown) => Buffer.from(JSON.stringify(value));
  const body = (bytes: Uint8Array | undefined): unknown =>
    JSON.parse(Buffer.from(bytes ?? []).toString('utf8'));

  beforeAll(async () => {
    lambda.registerIsolated(
      'echo',
      { modulePath, exportName: 'handler', env: { FIXTURE_MARKER: 'set' } },
      { timeoutMs: 1000 },
    );
    client = new LambdaClient({ endpoint: await lambda.start(), region: 'us-east-1', maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await lambda.stop();
  });

  it('runs the handler in a container with its own environment, loading time not counted', async () => {
    const output = await client.send(new InvokeCommand({ FunctionName: 'echo', Payload: payload({}) }));
    const result = body(output.Payload) as { remaining: number; appId: string; marker: string };
    expect(result.marker).toBe('set');
    expect(result.appId).toMatch(/^lambda-ctr-\d+$/);
    expect(result.remaining).toBeGreaterThan(900);
  });

  it('stops an invocation at its timeout for real and starts a fresh container after', async () => {
    const slow = await client.send(
      new InvokeCommand({ FunctionName: 'echo', Payload: payload({ waitMs: 5000 }) }),
    );
    expect(slow.FunctionError).toBe('Unhandled');
    expect(body(slow.Payload)).toMatchObject({ errorType: 'Sandbox.Timedout' });
    const next = await client.send(new InvokeCommand({ FunctionName: 'echo', Payload: payload({}) }));
    expect(next.FunctionError).toBeUndefined();
  });

  it('kills an invocation by terminating its container, reported as a runtime exit', async () => {
    const started = client.send(
      new InvokeCommand({ FunctionName: 'echo', Payload: payload({ waitMs: 800 }) }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [container] = [...Array(20).keys()]
      .map((i) => `lambda-ctr-${i}`)
      .filter((id) => lambda.eventIn(id) !== undefined);
    expect(container).toBeDefined();
    lambda.kill(container ?? '');
    const output = await started;
    expect(body(output.Payload)).toMatchObject({
      errorType: 'Runtime.ExitError',
      errorMessage: 'The invocation was killed.',
    });
    expect(lambda.stats.kills).toBe(1);
  });
});

describe('the local DynamoDB endpoint', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack();
    await createDemoTable(stack.clients.dynamodb, 'Segments');
    const items = Array.from({ length: 300 }, (_, i) => ({
      pk: { S: `customer#${i}` },
      sk: { N: String(i) },
    }));
    await writeItems(stack.clients.dynamodb, 'Segments', items);
  });
  afterAll(() => stack.stop());

  it('serves each item in exactly one of up to 1,000,000 parallel-scan segments, as DynamoDB does', async () => {
    // dynalite alone returns items in several segments once there are more than 4,096.
    for (const total of [7, 5000, 1_000_000]) {
      const seen = new Map<string, number>();
      // Segments near the edges and a sample in between: past 4,096 most segments are empty.
      const segments =
        total <= 5000
          ? Array.from({ length: total }, (_, s) => s)
          : Array.from({ length: 4096 }, (_, b) => Math.floor((b * total) / 4096));
      for (const segment of segments) {
        let key: Record<string, AttributeValue> | undefined;
        do {
          const page = await stack.clients.dynamodb.send(
            new ScanCommand({
              TableName: 'Segments',
              Segment: segment,
              TotalSegments: total,
              ExclusiveStartKey: key,
            }),
          );
          for (const item of page.Items ?? [])
            seen.set(String(item.sk?.N), (seen.get(String(item.sk?.N)) ?? 0) + 1);
          key = page.LastEvaluatedKey;
        } while (key);
      }
      expect(seen.size).toBe(300);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
    }
  });
});
