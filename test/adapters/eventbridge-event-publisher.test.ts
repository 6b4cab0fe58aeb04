import {
  AccessDeniedException,
  EventBridgeClient,
  InternalException,
  PutEventsCommand,
  type PutEventsRequestEntry,
  ThrottlingException,
} from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createAwsClients } from '../../lambda/adapters/clients';
import { EventBridgeEventPublisher } from '../../lambda/adapters/eventbridge-event-publisher';
import type { CompletionDetail } from '../../lambda/contract';
import { FatalScanError, TransientError, UncertainOutcomeError } from '../../lambda/core/errors';

const BUS = 'ddbscan-events';

const eventbridge = mockClient(EventBridgeClient);

function newPublisher(): EventBridgeEventPublisher {
  const noSleep = { now: () => Date.now(), sleep: async () => {} };
  return new EventBridgeEventPublisher(
    new EventBridgeClient({ region: 'us-east-1', maxAttempts: 1 }),
    BUS,
    noSleep,
  );
}

const detail: CompletionDetail = {
  scanId: '20261121T131600Z-4f2a9c',
  tableName: 'orders',
  segments: 4,
  startedAt: '2026-11-21T13:16:00.000Z',
  finishedAt: '2026-11-21T13:46:00.000Z',
  itemsScanned: 1_800_000,
  recordsPut: 1_750_000,
  bytesPut: 912_345_678,
  handoffs: 12,
  durationSeconds: 1800,
  itemsPerSecond: 1000,
};

function sentEntries(): PutEventsRequestEntry[] {
  return eventbridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
}

describe('EventBridgeEventPublisher', () => {
  beforeEach(() => {
    eventbridge.reset();
  });

  it('sends one Scan Completed entry from ddbscan to the bus with the detail as JSON', async () => {
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });

    await newPublisher().publishCompletion(detail);

    expect(eventbridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    const entries = sentEntries();
    expect(entries).toEqual([
      { Source: 'ddbscan', DetailType: 'Scan Completed', EventBusName: BUS, Detail: expect.any(String) },
    ]);
    expect(JSON.parse(entries[0]?.Detail ?? 'null')).toEqual(detail);
  });

  it('throws TransientError naming the ErrorCode when the entry fails inside a 200 answer', async () => {
    eventbridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' }],
    });

    const error = await newPublisher()
      .publishCompletion(detail)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
    expect(error).toHaveProperty('message', expect.stringContaining('InternalFailure'));
    expect(error).toHaveProperty('message', expect.stringContaining(BUS));
  });

  it('turns AccessDeniedException into FatalScanError with the SDK error as cause', async () => {
    const sdkError = new AccessDeniedException({
      message: 'not authorized to perform: events:PutEvents',
      $metadata: { httpStatusCode: 400 },
    });
    eventbridge.on(PutEventsCommand).rejects(sdkError);

    const error = await newPublisher()
      .publishCompletion(detail)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FatalScanError);
    expect(error).toHaveProperty('cause', sdkError);
  });

  it('never resends a request that got a 5xx answer: the event may have been published', async () => {
    const sdkError = new InternalException({ message: 'Internal error', $metadata: { httpStatusCode: 500 } });
    eventbridge.on(PutEventsCommand).rejects(sdkError);

    const error = await newPublisher()
      .publishCompletion(detail)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UncertainOutcomeError);
    expect(error).toHaveProperty('cause', sdkError);
    expect(eventbridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('never resends a request whose answer was lost (a reset connection)', async () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
    eventbridge.on(PutEventsCommand).rejects(reset);

    const error = await newPublisher()
      .publishCompletion(detail)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UncertainOutcomeError);
    expect(error).toHaveProperty('message', expect.stringContaining('may or may not have been published'));
    expect(eventbridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('sends again what EventBridge answered it did not publish, and publishes once', async () => {
    eventbridge
      .on(PutEventsCommand)
      .rejectsOnce(new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }))
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'slow' }],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });

    await newPublisher().publishCompletion(detail);

    expect(eventbridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
  });

  it('is built on a client that does not resend PutEvents', () => {
    const { eventbridge: client } = createAwsClients({ AWS_REGION: 'us-east-1' });
    return expect(client.config.maxAttempts()).resolves.toBe(1);
  });
});
