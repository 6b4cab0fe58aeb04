import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
} from '@aws-sdk/client-eventbridge';
import { type CompletionDetail, CompletionEvent, type ProcessedDetail, ProcessedEvent } from '../contract';
import { backoffDelay } from '../core/backoff';
import { FatalScanError, TransientError, UncertainOutcomeError } from '../core/errors';
import type { Clock, EventPublisher, ProcessedEventPublisher } from '../core/ports';
import { translateAwsError } from './aws-errors';
import { systemClock } from './system';

/** Per-entry PutEvents errors that no retry fixes. */
const PERMANENT_ENTRY_ERRORS = new Set([
  'AccessDeniedException',
  'NotAuthorizedForSourceException',
  'MalformedDetail',
]);

/** Sends of an event EventBridge refused, before giving up: about 1.4 s of backoff in all. */
const ATTEMPTS = 4;
const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 1_000;

/** An event of source `ddbscan`. */
type ScanEvent = typeof CompletionEvent | typeof ProcessedEvent;

/**
 * Publishes the "Scan Completed" and "Scan Processed" events (source `ddbscan`) to an
 * EventBridge bus, each at most once.
 *
 * PutEvents has no idempotency token: a request sent again after its answer was lost publishes
 * a second event. So the client must not resend (`maxAttempts: 1`, see `createAwsClients`), and
 * this publisher sends again only what EventBridge answered it did not publish: a 4xx answer
 * (throttling) or a failed entry in a 200 answer. A request with no answer, or a 5xx one, may
 * have published the event: that is an UncertainOutcomeError, never resent.
 */
export class EventBridgeEventPublisher implements EventPublisher, ProcessedEventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly clock: Clock = systemClock,
  ) {}

  publishCompletion(detail: CompletionDetail): Promise<void> {
    return this.publish(CompletionEvent, detail);
  }

  publishProcessed(detail: ProcessedDetail): Promise<void> {
    return this.publish(ProcessedEvent, detail);
  }

  private async publish(event: ScanEvent, detail: object): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const refused = await this.sendOnce(event, detail);
      if (refused === null) return;
      if (refused instanceof FatalScanError || attempt >= ATTEMPTS) throw refused;
      await this.clock.sleep(BACKOFF_BASE_MS + backoffDelay(attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS));
    }
  }

  /** Null when published; the error when EventBridge answered that it did not publish. */
  private async sendOnce(event: ScanEvent, detail: object): Promise<FatalScanError | TransientError | null> {
    let output: PutEventsCommandOutput;
    try {
      output = await this.client.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: event.source,
              DetailType: event.detailType,
              Detail: JSON.stringify(detail),
              EventBusName: this.eventBusName,
            },
          ],
        }),
      );
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        return translateAwsError(error, `PutEvents to ${this.eventBusName}`);
      }
      throw new UncertainOutcomeError(
        `PutEvents to ${this.eventBusName} got ${status === undefined ? 'no answer' : `a ${status} answer`} (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}): the ${event.detailType} event may or may not have been published, and is not sent again.`,
        { cause: error },
      );
    }
    if ((output.FailedEntryCount ?? 0) === 0) return null;
    // A 200 answer with a failed entry: that entry was not published.
    const entry = output.Entries?.[0];
    const message = `PutEvents to ${this.eventBusName} failed: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`;
    return PERMANENT_ENTRY_ERRORS.has(entry?.ErrorCode ?? '')
      ? new FatalScanError(message)
      : new TransientError(message);
  }
}
