import type { SegmentEvent } from '../contract';
import { ValidationError } from '../core/errors';
import { parseStart, parseWith, type RequestAction, requestSchemas } from '../core/request-schema';
import type { StartOptions } from '../core/scan-control';

const USER_ACTIONS = '"start", "status", "history", "stop", "resume", "failures", "replay" or "watchdog"';

/** A validated event: start carries its options in the core's form. */
export type ParsedEvent =
  | { readonly action: 'start'; readonly options: StartOptions }
  | { readonly action: 'status' | 'stop' | 'resume'; readonly scanId: string | null }
  | { readonly action: 'watchdog' | 'history' }
  | {
      readonly action: 'failures' | 'replay';
      readonly consumer: string;
      readonly scanId: string | null;
      readonly limit: number | null;
    }
  | SegmentEvent;

/**
 * Validates an incoming event against the request schemas (`core/request-schema.ts`). An empty
 * payload means start. Unknown actions and fields, and values out of range, are rejected with an
 * error naming the field and the expected value, before anything is read or written.
 *
 * @example
 * parseEvent({}); // { action: 'start', options: { segments: 1, ... } }
 * parseEvent({ action: 'start', segments: 0 }); // throws: Invalid segments: expected an integer from 1 to 1000000, or "auto", received 0.
 */
export function parseEvent(event: unknown): ParsedEvent {
  if (event === null || event === undefined) return { action: 'start', options: parseStart({}) };
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new ValidationError('event', 'a JSON object such as {"action":"start"}', event);
  }
  const fields = event as Record<string, unknown>;
  // Only a missing action means start: a null one (a caller's template left it empty) is refused.
  const action = fields.action === undefined ? 'start' : fields.action;
  if (typeof action !== 'string' || !Object.hasOwn(requestSchemas, action)) {
    throw new ValidationError('action', USER_ACTIONS, action);
  }
  if (action === 'start') return { action: 'start', options: parseStart(fields) };
  const request = parseWith(requestSchemas[action as Exclude<RequestAction, 'start'>], fields);
  switch (request.action) {
    case 'status':
    case 'stop':
    case 'resume':
      return { action: request.action, scanId: request.scanId ?? null };
    case 'watchdog':
    case 'history':
      return { action: request.action };
    case 'failures':
    case 'replay':
      return {
        action: request.action,
        consumer: request.consumer,
        scanId: request.scanId ?? null,
        limit: request.limit ?? null,
      };
    case 'segment': {
      const { from, relaunch, ...required } = request;
      return {
        ...required,
        ...(from === undefined ? {} : { from }),
        ...(relaunch === true ? { relaunch } : {}),
      };
    }
  }
}
