import type { ScannerEvent } from '../contract';
import { ValidationError } from '../core/errors';

/** Parallel scan: Segment and TotalSegments up to 1,000,000. */
const MAX_TOTAL_SEGMENTS = 1_000_000;

const USER_ACTIONS = '"start" or "status"';

/**
 * Validates an incoming event. An empty payload means start. Unknown actions and fields are
 * rejected with an error naming the field, before anything is read or written.
 *
 * @example
 * parseEvent({}); // { action: 'start' }
 * parseEvent({ action: 'stats' }); // throws ValidationError: Invalid action: expected "start" or "status", received "stats".
 */
export function parseEvent(event: unknown): ScannerEvent {
  if (event === null || event === undefined) return { action: 'start' };
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new ValidationError('event', 'a JSON object such as {"action":"start"}', event);
  }
  const fields = event as Record<string, unknown>;
  const action = fields.action ?? 'start';
  switch (action) {
    case 'start':
      rejectUnknownFields(fields, ['action']);
      return { action: 'start' };
    case 'status':
      rejectUnknownFields(fields, ['action']);
      return { action: 'status' };
    case 'segment':
      rejectUnknownFields(fields, ['action', 'scanId', 'segment', 'totalSegments', 'generation']);
      return parseSegmentEvent(fields);
    default:
      throw new ValidationError('action', USER_ACTIONS, action);
  }
}

function parseSegmentEvent(fields: Record<string, unknown>): ScannerEvent {
  const { scanId } = fields;
  if (typeof scanId !== 'string' || !/^[\w-]{1,64}$/.test(scanId)) {
    throw new ValidationError('scanId', 'a scan id of 1 to 64 letters, digits, "-" or "_"', scanId);
  }
  const totalSegments = integer(fields, 'totalSegments', 1, MAX_TOTAL_SEGMENTS);
  const segment = integer(fields, 'segment', 0, totalSegments - 1);
  const generation = integer(fields, 'generation', 1, Number.MAX_SAFE_INTEGER);
  return { action: 'segment', scanId, segment, totalSegments, generation };
}

function integer(fields: Record<string, unknown>, name: string, min: number, max: number): number {
  const value = fields[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function rejectUnknownFields(fields: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(fields).find((key) => !allowed.includes(key));
  if (unknown !== undefined) {
    throw new ValidationError(
      unknown,
      `no such field (this action accepts: ${allowed.join(', ')})`,
      fields[unknown],
    );
  }
}
