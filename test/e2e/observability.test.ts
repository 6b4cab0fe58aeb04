import { Logger } from '@aws-lambda-powertools/logger';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  INITIAL_ROOT_PARAMETER_VALUE,
  ScannerEnv,
  ScannerMetrics,
  type SegmentEvent,
  type StartResponse,
} from '../../lambda/contract';
import type { AttributeMap } from '../../lambda/core/attribute-value';
import type { SegmentOutcome } from '../../lambda/core/segment-runner';
import { createScannerHandler } from '../../lambda/handlers/scanner';
import { writeItems } from '../../local/demo-data';
import { createStream, createTable } from '../../local/local-resources';
import { type LocalStack, startLocalStack } from '../../local/local-stack';

const FUNCTION_NAME = 'observed-scanner';
const HANDOFF_MS = 1000;

/** Items whose every attribute value says "secret": none of them may reach an INFO log line. */
const items: AttributeMap[] = Array.from({ length: 60 }, (_, i) => ({
  pk: { S: `pk-secret-${i}` },
  payload: { S: `payload-secret-${i}` },
  tags: { SS: [`tag-secret-${i}`] },
}));

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly [key: string]: unknown;
}

interface Invocation {
  readonly event: unknown;
  readonly result: unknown;
  readonly lines: readonly LogLine[];
  /** Everything the invocation wrote to stdout and stderr. */
  readonly text: string;
  /** EMF lines the handler gave its metrics output. */
  readonly emf: readonly string[];
}

const action = (invocation: Invocation) => (invocation.event as { action?: string }).action;

/**
 * The real handler on the local stack. Its async invokes (the segment chains) go to a function
 * that only queues them, so each invocation runs here, one at a time, with stdout and stderr
 * captured.
 */
let stack: LocalStack;
const queued: unknown[] = [];

beforeAll(async () => {
  stack = await startLocalStack();
  const { dynamodb, kinesis, ssm } = stack.clients;
  await createTable(dynamodb, {
    TableName: 'Secrets',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  });
  await writeItems(dynamodb, 'Secrets', items);
  await createStream(kinesis, 'secrets', 2);
  await ssm.send(
    new PutParameterCommand({
      Name: '/ddbscan/observed',
      Value: INITIAL_ROOT_PARAMETER_VALUE,
      Type: 'String',
      Overwrite: true,
    }),
  );
  stack.lambda.register(
    FUNCTION_NAME,
    async (event) => {
      queued.push(event);
      return null;
    },
    { timeoutMs: 60_000 },
  );
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

function scannerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...stack.env,
    [ScannerEnv.tableName]: 'Secrets',
    [ScannerEnv.streamName]: 'secrets',
    [ScannerEnv.parameterName]: '/ddbscan/observed',
    [ScannerEnv.handoffMs]: String(HANDOFF_MS),
    [ScannerEnv.checkpointIntervalMs]: '0',
    [ScannerEnv.pageSize]: '10',
    ...extra,
  };
}

/** Runs one invocation with stdout and stderr captured (and kept off the test output). */
async function run(
  handler: ReturnType<typeof createScannerHandler>,
  event: unknown,
  remainingMs: number,
  emf: string[] = [],
): Promise<Invocation> {
  const written: string[] = [];
  const capture = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  const emfBefore = emf.length;
  let result: unknown;
  try {
    result = await handler(event, {
      functionName: FUNCTION_NAME,
      getRemainingTimeInMillis: () => remainingMs,
    }).catch((error: unknown) => error);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const text = written.join('');
  const lines = text
    .split('\n')
    .filter((line) => line.startsWith('{') && !line.startsWith('{"_aws"'))
    .map((line) => JSON.parse(line) as LogLine);
  return { event, result, lines, text, emf: emf.slice(emfBefore) };
}

/**
 * Starts a 2-segment scan and runs every queued segment event until the scan is done. With a
 * budget of exactly the hand-off margin, every segment invocation writes one page and hands off.
 */
async function scanThrough(
  handler: ReturnType<typeof createScannerHandler>,
  emf?: string[],
): Promise<Invocation[]> {
  const invocations = [await run(handler, { action: 'start', segments: 2 }, 60_000, emf)];
  for (let rounds = 0; rounds < 100; rounds++) {
    await stack.lambda.idle();
    const next = queued.shift();
    if (next === undefined) break;
    invocations.push(await run(handler, next, HANDOFF_MS, emf));
  }
  return invocations;
}

describe('logs and metrics of a scan through the handler', () => {
  const invocations: Invocation[] = [];
  const emf: string[] = [];
  let scanId = '';
  let rejected: Invocation | undefined;

  beforeAll(async () => {
    const handler = createScannerHandler({
      env: scannerEnv(),
      logger: new Logger({ serviceName: ScannerMetrics.service, logLevel: 'INFO' }),
      metricsOutput: (line) => emf.push(line),
    });
    const scan = await scanThrough(handler, emf);
    scanId = (scan[0]?.result as StartResponse | undefined)?.scanId ?? '';
    invocations.push(...scan);
    invocations.push(await run(handler, { action: 'watchdog' }, 60_000, emf));
    invocations.push(await run(handler, { action: 'stop', scanId }, 60_000, emf));
    rejected = await run(handler, { action: 'start', segments: 0 }, 60_000, emf);
  }, 60_000);

  const segmentRuns = () => invocations.filter((i) => action(i) === 'segment');

  it('runs the scan to the end through segment invocations that hand off', () => {
    const outcomes = segmentRuns().map((i) => (i.result as SegmentOutcome).kind);
    expect(outcomes).toContain('handed-off');
    expect(outcomes.filter((kind) => kind === 'done')).toHaveLength(2);
    expect(queued).toEqual([]);
  });

  it("puts the scan id, segment and generation on every line of a segment's invocation", () => {
    const runs = segmentRuns();
    expect(runs.flatMap((run) => run.lines).length).toBeGreaterThanOrEqual(runs.length);
    for (const run of runs) {
      const event = run.event as SegmentEvent;
      for (const line of run.lines) {
        expect(line, line.message).toMatchObject({ scanId: event.scanId, segment: event.segment });
        expect(line.generation, line.message).toBeTypeOf('number');
      }
    }
  });

  it('puts the scan id on the lines of start, the watchdog and a refused stop', () => {
    const control = invocations.filter((i) => action(i) !== 'segment');
    expect(control.map((i) => i.lines.map((line) => line.message))).toEqual([
      ['scan started'],
      ['watchdog'],
      ['invocation failed'],
    ]);
    for (const line of control.flatMap((i) => i.lines)) expect(line.scanId).toBe(scanId);
  });

  it('logs a request it rejects, as the errors alarm tells on-call to look for', () => {
    expect(rejected?.lines).toEqual([
      expect.objectContaining({ level: 'ERROR', message: 'invocation failed', action: 'unknown' }),
    ]);
  });

  it('logs no item content at INFO: no attribute value, key or checkpoint position', () => {
    const written = invocations.map((i) => i.text).join('');
    expect(written.length).toBeGreaterThan(0);
    expect(written).not.toContain('secret');
  });

  it('publishes at most one EMF line per invocation, with the two dimensions the alarms select on', () => {
    for (const run of invocations) expect(run.emf.length).toBeLessThanOrEqual(1);
    expect(emf.length).toBeGreaterThan(0);
    for (const line of emf) {
      expect(JSON.parse(line)).toMatchObject({
        _aws: {
          CloudWatchMetrics: [
            { Namespace: ScannerMetrics.namespace, Dimensions: [['service', 'FunctionName']] },
          ],
        },
        service: ScannerMetrics.service,
        FunctionName: FUNCTION_NAME,
      });
    }
  });

  it('publishes the scan duration once, in seconds, from the invocation that completed the scan', () => {
    const withDuration = invocations.filter((run) =>
      run.emf.some((line) => ScannerMetrics.scanDuration in JSON.parse(line)),
    );
    expect(withDuration).toHaveLength(1);
    const [completer] = withDuration;
    expect(completer?.lines.map((line) => line.message)).toContain('scan completed');
    const document = JSON.parse(completer?.emf[0] ?? '{}');
    expect(document._aws.CloudWatchMetrics[0].Metrics).toContainEqual({
      Name: 'ScanDuration',
      Unit: 'Seconds',
    });
    expect(document.ScanDuration).toBeGreaterThan(0);
  });
});

describe('where the handler writes its metrics without an output', () => {
  const silent = () => new Logger({ serviceName: ScannerMetrics.service, logLevel: 'SILENT' });

  it('writes no EMF outside Lambda, as in local mode and tests', async () => {
    const handler = createScannerHandler({ env: scannerEnv(), logger: silent() });
    const invocations = await scanThrough(handler);

    expect(invocations.filter((i) => (i.result as SegmentOutcome).kind === 'done')).toHaveLength(2);
    expect(invocations.map((i) => i.text).join('')).toBe('');
  });

  it('writes one raw EMF line per invocation to stdout inside Lambda', async () => {
    const handler = createScannerHandler({
      env: scannerEnv({ AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME }),
      logger: silent(),
    });
    const invocations = await scanThrough(handler);

    const printed = invocations.map((i) => i.text.split('\n').filter((line) => line !== ''));
    for (const lines of printed) expect(lines.length).toBeLessThanOrEqual(1);
    const documents = printed.flat().map((line) => JSON.parse(line));
    expect(documents.filter((d) => ScannerMetrics.scanDuration in d)).toHaveLength(1);
    for (const document of documents) expect(document).toMatchObject({ FunctionName: FUNCTION_NAME });
  });
});
