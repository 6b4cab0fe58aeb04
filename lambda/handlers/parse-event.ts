import { RecordFormat, type SegmentEvent } from '../contract';
import { ValidationError } from '../core/errors';
import { checkAgainstSegments, type StartOptions } from '../core/scan-control';
import { parseWith, type RequestAction, requestSchemas, startRequestSchema } from './request-schema';

const USER_ACTIONS = '"start", "status", "history", "stop", "resume" or "watchdog"';

/** A validated event: start carries its options in the core's form. */
export type ParsedEvent =
  | { readonly action: 'start'; readonly options: StartOptions }
  | { readonly action: 'status' | 'stop' | 'resume'; readonly scanId: string | null }
  | { readonly action: 'watchdog' | 'history' }
  | SegmentEvent;

/**
 * Validates an incoming event against the request schemas (`request-schema.ts`). An empty
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
  switch (action as RequestAction) {
    case 'start':
      return { action: 'start', options: parseStart(fields) };
    case 'status':
    case 'stop':
    case 'resume': {
      const request = parseWith(requestSchemas[action as 'status' | 'stop' | 'resume'], fields);
      return { action: request.action, scanId: request.scanId ?? null };
    }
    case 'watchdog':
    case 'history':
      parseWith(requestSchemas[action as 'watchdog' | 'history'], fields);
      return { action: action as 'watchdog' | 'history' };
    case 'segment': {
      const { from, relaunch, ...required } = parseWith(requestSchemas.segment, fields);
      return {
        ...required,
        ...(from === undefined ? {} : { from }),
        ...(relaunch === true ? { relaunch } : {}),
      };
    }
  }
}

/**
 * A start request's options in the core's form, checked whole. The CLI checks its requests with
 * it before sending them.
 */
export function parseStart(fields: Record<string, unknown>): StartOptions {
  const request = parseWith(startRequestSchema, fields);
  const options: StartOptions = {
    segments: request.segments ?? 1,
    concurrency: request.concurrency ?? null,
    restart: request.restart ?? false,
    filterExpression: request.filter ?? null,
    projectionExpression: request.projection ?? null,
    expressionNames: request.names ?? null,
    expressionValues: request.values ?? null,
    consistentRead: request.consistentRead ?? false,
    pageSize: request.pageSize ?? null,
    startKey: request.startKey ?? null,
    recordFormat: request.recordFormat ?? RecordFormat.dynamodbStream,
    maxItemsPerSecond: request.maxItemsPerSecond ?? null,
    maxReadUnitsPerSecond: request.maxReadUnitsPerSecond ?? null,
  };
  // With a number of segments these are checked here, before anything is read (and before a
  // running scan is reported); "auto" is checked once the scanner has chosen the number.
  if (options.segments !== 'auto') checkAgainstSegments(options, options.segments);
  return options;
}
