import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { SegmentEvent } from '../contract';
import type { Continuation } from '../core/ports';
import { translateAwsError } from './aws-errors';

/**
 * Continues a segment by invoking this same function asynchronously (InvocationType Event).
 * The function name comes from the invocation's context, never from an environment variable
 * holding the function's own ARN, which would make a CloudFormation dependency cycle.
 *
 * Safe for the SDK to resend: a second copy of an event is a duplicate delivery, which Lambda
 * itself may make of any async event, and the chain's generation and hand-off token let only
 * one copy go on.
 */
export class LambdaContinuation implements Continuation {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async continueSegment(event: SegmentEvent): Promise<void> {
    try {
      await this.client.send(
        new InvokeCommand({
          FunctionName: this.functionName,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify(event)),
        }),
      );
    } catch (error) {
      throw translateAwsError(error, `Invoke ${this.functionName} for segment ${event.segment}`);
    }
  }
}
