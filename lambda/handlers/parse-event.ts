import { MAX_CONCURRENCY, MAX_SEGMENTS, RecordFormat, type SegmentEvent } from '../contract';
import { type AttributeMap, fromJsonMap } from '../core/attribute-value';
import { ValidationError } from '../core/errors';
import { checkAgainstSegments, type StartOptions } from '../core/scan-control';

/** Parallel scan: Segment and TotalSegments up to 1,000,000. */
const MAX_TOTAL_SEGMENTS = 1_000_000;
/** DynamoDB: an expression is at most 4 KB. */
const MAX_EXPRESSION_LENGTH = 4096;

const USER_ACTIONS = '"start", "status", "history", "stop", "resume" or "watchdog"';
const START_FIELDS = [
  'action',
  'segments',
  'concurrency',
  'restart',
  'filter',
  'projection',
  'names',
  'values',
  'consistentRead',
  'pageSize',
  'startKey',
  'recordFormat',
  'maxItemsPerSecond',
  'maxReadUnitsPerSecond',
] as const;
/** Upper bound of the rate limits: far above what one scan can reach. */
const MAX_RATE = 10_000_000;

/** A validated event: start carries its options in the core's form. */
export type ParsedEvent =
  | { readonly action: 'start'; readonly options: StartOptions }
  | { readonly action: 'status' | 'stop' | 'resume'; readonly scanId: string | null }
  | { readonly action: 'watchdog' | 'history' }
  | SegmentEvent;

/**
 * Validates an incoming event. An empty payload means start. Unknown actions and fields, and
 * values out of range, are rejected with an error naming the field and the expected value,
 * before anything is read or written.
 *
 * @example
 * parseEvent({}); // { action: 'start', options: { segments: 1, ... } }
 * parseEvent({ action: 'start', segments: 0 }); // throws: Invalid segments: expected an integer from 1 to 1000, or "auto", received 0.
 */
export function parseEvent(event: unknown): ParsedEvent {
  if (event === null || event === undefined) return { action: 'start', options: parseStart({}) };
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new ValidationError('event', 'a JSON object such as {"action":"start"}', event);
  }
  const fields = event as Record<string, unknown>;
  // Only a missing action means start: a null one (a caller's template left it empty) is refused.
  const action = fields.action === undefined ? 'start' : fields.action;
  switch (action) {
    case 'start':
      rejectUnknownFields(fields, START_FIELDS);
      return { action: 'start', options: parseStart(fields) };
    case 'status':
    case 'stop':
    case 'resume':
      rejectUnknownFields(fields, ['action', 'scanId']);
      return {
        action: action as 'status' | 'stop' | 'resume',
        scanId: fields.scanId === undefined ? null : scanId(fields.scanId),
      };
    case 'watchdog':
    case 'history':
      rejectUnknownFields(fields, ['action']);
      return { action: action as 'watchdog' | 'history' };
    case 'segment':
      rejectUnknownFields(fields, [
        'action',
        'scanId',
        'segment',
        'totalSegments',
        'generation',
        'from',
        'relaunch',
      ]);
      return parseSegmentEvent(fields);
    default:
      throw new ValidationError('action', USER_ACTIONS, action);
  }
}

function parseStart(fields: Record<string, unknown>): StartOptions {
  const options = startOptionsOf(fields);
  // With a number of segments these are checked here, before anything is read (and before a
  // running scan is reported); "auto" is checked once the scanner has chosen the number.
  if (options.segments !== 'auto') checkAgainstSegments(options, options.segments);
  return options;
}

function startOptionsOf(fields: Record<string, unknown>): StartOptions {
  return {
    segments: segments(fields.segments),
    concurrency: fields.concurrency === undefined ? null : integer(fields, 'concurrency', 1, MAX_CONCURRENCY),
    restart: optionalBoolean(fields, 'restart'),
    filterExpression: fields.filter === undefined ? null : expressionString(fields.filter, 'filter'),
    projectionExpression:
      fields.projection === undefined ? null : expressionString(fields.projection, 'projection'),
    expressionNames: fields.names === undefined ? null : names(fields.names),
    expressionValues: fields.values === undefined ? null : attributeMap(fields.values, 'values', ':'),
    consistentRead: optionalBoolean(fields, 'consistentRead'),
    pageSize: fields.pageSize === undefined ? null : integer(fields, 'pageSize', 1, 1_000_000),
    startKey: fields.startKey === undefined ? null : attributeMap(fields.startKey, 'startKey'),
    recordFormat: recordFormat(fields.recordFormat),
    maxItemsPerSecond:
      fields.maxItemsPerSecond === undefined ? null : integer(fields, 'maxItemsPerSecond', 1, MAX_RATE),
    maxReadUnitsPerSecond:
      fields.maxReadUnitsPerSecond === undefined
        ? null
        : integer(fields, 'maxReadUnitsPerSecond', 1, MAX_RATE),
  };
}

function segments(value: unknown): number | 'auto' {
  if (value === undefined) return 1;
  if (value === 'auto') return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_SEGMENTS) {
    throw new ValidationError('segments', `an integer from 1 to ${MAX_SEGMENTS}, or "auto"`, value);
  }
  return value;
}

function recordFormat(value: unknown): RecordFormat {
  if (value === undefined) return RecordFormat.dynamodbStream;
  if (value !== RecordFormat.dynamodbStream && value !== RecordFormat.item) {
    throw new ValidationError(
      'recordFormat',
      `"${RecordFormat.dynamodbStream}" or "${RecordFormat.item}"`,
      value,
    );
  }
  return value;
}

function expressionString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_EXPRESSION_LENGTH) {
    throw new ValidationError(
      field,
      `a DynamoDB expression of 1 to ${MAX_EXPRESSION_LENGTH} characters`,
      value,
    );
  }
  return value;
}

function names(value: unknown): Record<string, string> {
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.keys(value).length === 0
  ) {
    throw new ValidationError('names', 'a non-empty object such as {"#s":"status"}', value);
  }
  for (const [key, name] of Object.entries(value)) {
    if (!key.startsWith('#') || typeof name !== 'string' || name === '') {
      throw new ValidationError(`names.${key}`, 'a "#placeholder" mapped to an attribute name', name);
    }
  }
  return value as Record<string, string>;
}

function attributeMap(value: unknown, field: string, keyPrefix?: string): AttributeMap {
  try {
    const map = fromJsonMap(value, field);
    if (Object.keys(map).length === 0) throw new TypeError(`${field} must not be empty`);
    const bad =
      keyPrefix === undefined ? undefined : Object.keys(map).find((key) => !key.startsWith(keyPrefix));
    if (bad !== undefined) throw new TypeError(`${field}.${bad} must start with "${keyPrefix}"`);
    return map;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    throw new ValidationError(
      field,
      `typed attribute values such as {"${keyPrefix ?? 'id'}x":{"S":"a"}} (${error.message})`,
      value,
    );
  }
}

function scanId(value: unknown): string {
  if (typeof value !== 'string' || !/^[\w-]{1,64}$/.test(value)) {
    throw new ValidationError('scanId', 'a scan id of 1 to 64 letters, digits, "-" or "_"', value);
  }
  return value;
}

function parseSegmentEvent(fields: Record<string, unknown>): SegmentEvent {
  const id = scanId(fields.scanId);
  const totalSegments = integer(fields, 'totalSegments', 1, MAX_TOTAL_SEGMENTS);
  const segment = integer(fields, 'segment', 0, totalSegments - 1);
  const generation = integer(fields, 'generation', 1, Number.MAX_SAFE_INTEGER);
  if (fields.relaunch !== undefined && fields.relaunch !== true) {
    throw new ValidationError('relaunch', 'true, or no such field', fields.relaunch);
  }
  if (fields.from !== undefined && (typeof fields.from !== 'string' || !/^[\w-]{1,64}$/.test(fields.from))) {
    throw new ValidationError('from', 'an owner token of 1 to 64 letters, digits, "-" or "_"', fields.from);
  }
  return {
    action: 'segment',
    scanId: id,
    segment,
    totalSegments,
    generation,
    ...(typeof fields.from === 'string' ? { from: fields.from } : {}),
    ...(fields.relaunch === true ? { relaunch: true } : {}),
  };
}

function integer(fields: Record<string, unknown>, name: string, min: number, max: number): number {
  const value = fields[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function optionalBoolean(fields: Record<string, unknown>, name: string): boolean {
  const value = fields[name];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new ValidationError(name, 'true or false', value);
  return value;
}

function rejectUnknownFields(fields: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(fields).find((key) => !allowed.includes(key));
  if (unknown !== undefined) {
    throw new ValidationError(unknown, `no such field (accepted: ${allowed.join(', ')})`, fields[unknown]);
  }
}
