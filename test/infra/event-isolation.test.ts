import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it, vi } from 'vitest';
import type { AwsClients } from '../../lambda/adapters/clients';
import { ScannerEnv } from '../../lambda/contract';
import { createScannerHandler } from '../../lambda/handlers/scanner';

/**
 * The payload of an invoke must never point the scanner at another table, stream, parameter or bus:
 * those come only from the environment the construct sets (and the role allows only them, see the
 * IAM tests). Every action refuses a field that tries, before any AWS call.
 */
describe('the event cannot redirect the scanner', () => {
  const env = {
    [ScannerEnv.tableName]: 'Orders',
    [ScannerEnv.streamName]: 'orders-backfill',
    [ScannerEnv.parameterName]: '/ddbscan/Backfill/Scanner',
    AWS_REGION: 'us-east-1',
  };
  const send = vi.fn();
  const client = { send };
  const clients = {
    dynamodb: client,
    kinesis: client,
    ssm: client,
    lambda: client,
    eventbridge: client,
  } as unknown as AwsClients;
  const handler = createScannerHandler({ env, clients, logger: new Logger({ logLevel: 'SILENT' }) });
  const context = { functionName: 'scanner', getRemainingTimeInMillis: () => 900_000 };

  const actions: Record<string, Record<string, unknown>> = {
    'an empty payload (start)': {},
    start: { action: 'start', segments: 2 },
    status: { action: 'status' },
    stop: { action: 'stop' },
    resume: { action: 'resume' },
    watchdog: { action: 'watchdog' },
    segment: { action: 'segment', scanId: 'scan-1', segment: 0, totalSegments: 1, generation: 1 },
  };
  const redirects = [
    'tableName',
    'TableName',
    'tableArn',
    'streamName',
    'StreamName',
    'streamArn',
    'parameterName',
    'eventBusName',
    'functionName',
  ];
  const cases = Object.entries(actions).flatMap(([name, event]) =>
    redirects.map((field) => [name, field, event] as const),
  );

  it.each(cases)('refuses %s carrying %s, before any AWS call', async (_name, field, event) => {
    send.mockClear();
    const error = await handler({ ...event, [field]: 'elsewhere' }, context).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ValidationError', message: expect.stringContaining(field) });
    expect(send).not.toHaveBeenCalled();
  });
});
