import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
} from '@aws-sdk/client-eventbridge';
import { type CompletionDetail, CompletionEvent } from '../contract';
import { FatalScanError, TransientError } from '../core/errors';
import type { EventPublisher } from '../core/ports';
import { translateAwsError } from './aws-errors';

/** Per-entry PutEvents errors that no retry fixes. */
const PERMANENT_ENTRY_ERRORS = new Set([
  'AccessDeniedException',
  'NotAuthorizedForSourceException',
  'MalformedDetail',
]);

/** Publishes the "Scan Completed" event (source `ddbscan`) to an EventBridge bus. */
export class EventBridgeEventPublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publishCompletion(detail: CompletionDetail): Promise<void> {
    let output: PutEventsCommandOutput;
    try {
      output = await this.client.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: CompletionEvent.source,
              DetailType: CompletionEvent.detailType,
              Detail: JSON.stringify(detail),
              EventBusName: this.eventBusName,
            },
          ],
        }),
      );
    } catch (error) {
      throw translateAwsError(error, `PutEvents to ${this.eventBusName}`);
    }
    // PutEvents answers 200 with a per-entry error: permanent ones fail the scan, others are
    // retried by Lambda.
    if ((output.FailedEntryCount ?? 0) > 0) {
      const entry = output.Entries?.[0];
      const message = `PutEvents to ${this.eventBusName} failed: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`;
      throw PERMANENT_ENTRY_ERRORS.has(entry?.ErrorCode ?? '')
        ? new FatalScanError(message)
        : new TransientError(message);
    }
  }
}
