import {
  InvokeCommand,
  LambdaClient,
  LambdaServiceException,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LambdaContinuation } from '../../lambda/adapters/lambda-continuation';
import type { SegmentEvent } from '../../lambda/contract';
import { FatalScanError, TransientError } from '../../lambda/core/errors';

const FUNCTION_NAME = 'ddbscan-scanner';

const lambda = mockClient(LambdaClient);

function newContinuation(): LambdaContinuation {
  return new LambdaContinuation(new LambdaClient({ region: 'us-east-1', maxAttempts: 1 }), FUNCTION_NAME);
}

const event: SegmentEvent = {
  action: 'segment',
  scanId: '20261121T131600Z-4f2a9c',
  segment: 3,
  totalSegments: 8,
  generation: 12,
};

function sentPayloads(): unknown[] {
  return lambda.commandCalls(InvokeCommand).map((call) => {
    const payload = call.args[0].input.Payload;
    if (!(payload instanceof Uint8Array)) throw new Error(`expected a binary payload, got ${typeof payload}`);
    return JSON.parse(new TextDecoder().decode(payload));
  });
}

describe('LambdaContinuation', () => {
  beforeEach(() => {
    lambda.reset();
  });

  it('invokes the function asynchronously with the segment event as JSON payload', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

    await newContinuation().continueSegment(event);

    expect(lambda).toHaveReceivedCommandExactlyOnceWith(InvokeCommand, {
      FunctionName: FUNCTION_NAME,
      InvocationType: 'Event',
    });
    expect(sentPayloads()).toEqual([event]);
  });

  it('turns AccessDeniedException into FatalScanError with the SDK error as cause', async () => {
    // The Lambda client models no AccessDeniedException class: IAM denials arrive as the base exception.
    const sdkError = new LambdaServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      message: 'not authorized to perform: lambda:InvokeFunction',
      $metadata: { httpStatusCode: 403 },
    });
    lambda.on(InvokeCommand).rejects(sdkError);

    const error = await newContinuation()
      .continueSegment(event)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FatalScanError);
    expect(error).toHaveProperty('cause', sdkError);
    expect(error).toHaveProperty('message', expect.stringContaining('segment 3'));
  });

  it('turns TooManyRequestsException that outlasted the SDK retries into TransientError', async () => {
    const sdkError = new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} });
    lambda.on(InvokeCommand).rejects(sdkError);

    const error = await newContinuation()
      .continueSegment(event)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
    expect(error).toHaveProperty('cause', sdkError);
  });
});
