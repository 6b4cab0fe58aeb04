import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultInjector } from '../../local/faults';
import { LocalLambda } from '../../local/local-lambda';
import { LocalSsm } from '../../local/local-ssm';

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
