import * as z from 'zod/mini';
import {
  type AttributeValueJsonMap,
  type FailuresRequest,
  type HistoryRequest,
  MAX_CONCURRENCY,
  MAX_SEGMENTS,
  RecordFormat,
  type ReplayRequest,
  type ResumeRequest,
  type SegmentEvent,
  type StartRequest,
  type StatusRequest,
  type StopRequest,
  type WatchdogRequest,
} from '../contract';
import { type AttributeMap, fromJsonMap } from './attribute-value';
import { ValidationError } from './errors';
import { checkAgainstSegments, type StartOptions } from './scan-start';

/**
 * The scanner's request contract as zod schemas: one per action, each field with the value it
 * expects in words, which is what a refusal says. The handler validates every event with them and
 * the CLI checks its start request with `parseStart` before sending it. The request types of
 * `contract.ts` (documented, and importable without zod) are checked against them at compile time
 * below, both ways, so the two cannot drift apart.
 */

/** Parallel scan: Segment and TotalSegments up to 1,000,000. */
const MAX_TOTAL_SEGMENTS = 1_000_000;
/** DynamoDB: an expression is at most 4 KB. */
const MAX_EXPRESSION_LENGTH = 4096;
/** Upper bound of the rate limits: far above what one scan can reach. */
const MAX_RATE = 10_000_000;

const integer = (min: number, max: number, expected = `an integer from ${min} to ${max}`) =>
  z.int({ error: expected }).check(z.minimum(min, { error: expected }), z.maximum(max, { error: expected }));

const SEGMENTS = `an integer from 1 to ${MAX_SEGMENTS}, or "auto"`;
const segments = z.union([z.literal('auto'), integer(1, MAX_SEGMENTS, SEGMENTS)], { error: SEGMENTS });

const boolean = z.boolean({ error: 'true or false' });

const EXPRESSION = `a DynamoDB expression of 1 to ${MAX_EXPRESSION_LENGTH} characters`;
const expression = z.string({ error: EXPRESSION }).check(
  z.maxLength(MAX_EXPRESSION_LENGTH, { error: EXPRESSION }),
  z.refine((text) => text.trim() !== '', { error: EXPRESSION }),
);

const PLACEHOLDER = 'a "#placeholder" mapped to an attribute name';
const NAMES = 'a non-empty object such as {"#s":"status"}';
const names = z.pipe(
  // zod's records skip a "__proto__" key without a word: refused here, as any name without "#".
  z
    .custom<Readonly<Record<string, string>>>(() => true)
    .check(
      z.superRefine((value, context) => {
        if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
          const input: unknown = Object.getOwnPropertyDescriptor(value, '__proto__')?.value;
          context.addIssue({ code: 'custom', path: ['__proto__'], message: PLACEHOLDER, input });
        }
      }),
    ),
  z
    .record(
      z.string().check(z.startsWith('#')),
      z.string({ error: PLACEHOLDER }).check(z.minLength(1, { error: PLACEHOLDER })),
      { error: (issue) => (issue.code === 'invalid_key' ? PLACEHOLDER : NAMES) },
    )
    .check(z.refine((map) => Object.keys(map).length > 0, { error: NAMES })),
);

/** Typed attribute values (binary as base64), converted to the core's form; `keyPrefix` for `:placeholders`. */
const attributeMap = (field: string, keyPrefix?: string) =>
  z.pipe(
    // Any value goes on to the conversion, which says what is wrong with it; the type is the contract's.
    z.custom<AttributeValueJsonMap>(() => true),
    z.transform((value, context): AttributeMap => {
      const expected = (why: string) =>
        `typed attribute values such as {"${keyPrefix ?? 'id'}x":{"S":"a"}} (${why})`;
      try {
        const map = fromJsonMap(value, field);
        if (Object.keys(map).length === 0) throw new TypeError(`${field} must not be empty`);
        const bad =
          keyPrefix === undefined ? undefined : Object.keys(map).find((key) => !key.startsWith(keyPrefix));
        if (bad !== undefined) throw new TypeError(`${field}.${bad} must start with "${keyPrefix}"`);
        return map;
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        context.issues.push({ code: 'custom', message: expected(error.message), input: value });
        return z.NEVER;
      }
    }),
  );

const recordFormat = z.enum([RecordFormat.dynamodbStream, RecordFormat.item], {
  error: `"${RecordFormat.dynamodbStream}" or "${RecordFormat.item}"`,
});

const SCAN_ID = 'a scan id of 1 to 64 letters, digits, "-" or "_"';
const scanId = z.string({ error: SCAN_ID }).check(z.regex(/^[\w-]{1,64}$/, { error: SCAN_ID }));

/** `start`; also an event without an action. */
export const startRequestSchema = z.strictObject({
  action: z.optional(z.literal('start')),
  segments: z.optional(segments),
  concurrency: z.optional(integer(1, MAX_CONCURRENCY)),
  restart: z.optional(boolean),
  filter: z.optional(expression),
  projection: z.optional(expression),
  names: z.optional(names),
  values: z.optional(attributeMap('values', ':')),
  consistentRead: z.optional(boolean),
  pageSize: z.optional(integer(1, 1_000_000)),
  startKey: z.optional(attributeMap('startKey')),
  recordFormat: z.optional(recordFormat),
  maxItemsPerSecond: z.optional(integer(1, MAX_RATE)),
  maxReadUnitsPerSecond: z.optional(integer(1, MAX_RATE)),
});

const scanIdRequest = <A extends string>(action: A) =>
  z.strictObject({ action: z.literal(action), scanId: z.optional(scanId) });

const OWNER = 'an owner token of 1 to 64 letters, digits, "-" or "_"';
const segmentEventSchema = z
  .strictObject({
    action: z.literal('segment'),
    scanId,
    totalSegments: integer(1, MAX_TOTAL_SEGMENTS),
    // Its range depends on totalSegments: checked below, once that is known to be valid.
    segment: z.number({ error: 'an integer from 0 to totalSegments - 1' }),
    generation: integer(1, Number.MAX_SAFE_INTEGER),
    relaunch: z.optional(z.literal(true, { error: 'true, or no such field' })),
    from: z.optional(z.string({ error: OWNER }).check(z.regex(/^[\w-]{1,64}$/, { error: OWNER }))),
  })
  .check(
    z.superRefine((event, context) => {
      if (!Number.isInteger(event.segment) || event.segment < 0 || event.segment >= event.totalSegments) {
        const expected = `an integer from 0 to ${event.totalSegments - 1}`;
        context.addIssue({ code: 'custom', path: ['segment'], message: expected, input: event.segment });
      }
    }),
  );

const CONSUMER = "a tracked consumer's name";
const consumerRequest = <A extends 'failures' | 'replay'>(action: A) =>
  z.strictObject({
    action: z.literal(action),
    consumer: z.string({ error: CONSUMER }).check(z.minLength(1, { error: CONSUMER })),
    scanId: z.optional(z.string({ error: 'a scan id' })),
    limit: z.optional(integer(1, 1000)),
  });

/** Every action's schema, by action. */
export const requestSchemas = {
  start: startRequestSchema,
  status: scanIdRequest('status'),
  stop: scanIdRequest('stop'),
  resume: scanIdRequest('resume'),
  history: z.strictObject({ action: z.literal('history') }),
  watchdog: z.strictObject({ action: z.literal('watchdog') }),
  failures: consumerRequest('failures'),
  replay: consumerRequest('replay'),
  segment: segmentEventSchema,
} as const;

export type RequestAction = keyof typeof requestSchemas;

/**
 * Parses `event` with `schema`; a refusal is the ValidationError of its first problem, named by
 * the field's path (`names.#s`) with the value found there. A misspelled field comes first: it is
 * most likely why another one seems missing.
 */
export function parseWith<S extends z.ZodMiniType>(schema: S, event: Record<string, unknown>): z.output<S> {
  const result = schema.safeParse(event);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  if (issue === undefined) throw new Error('parseWith: a refusal without an issue');
  if (issue.code === 'unrecognized_keys') {
    const [key = ''] = issue.keys;
    const accepted = schema instanceof z.ZodMiniObject ? Object.keys(schema.shape).join(', ') : '';
    throw new ValidationError(key, `no such field (accepted: ${accepted})`, event[key]);
  }
  const path = issue.path.map(String);
  throw new ValidationError(path.join('.'), issue.message, valueAt(event, path));
}

function valueAt(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/**
 * A start request's options in the core's form, checked whole: what the request alone decides.
 * Rate limits against the chains are checked here only when the request names its concurrency
 * (else the function's default decides, and the start checks them). The CLI checks its requests
 * with it before sending them.
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
  // With a number of segments, before anything is read (and before a running scan is reported);
  // "auto" is checked once the scanner has chosen the number.
  if (options.segments !== 'auto') {
    checkAgainstSegments({ ...options, concurrency: options.concurrency ?? 1 }, options.segments);
  }
  return options;
}

// The contract's request types and the schemas' inputs are the same types, each way: a field
// added, dropped, widened or narrowed on one side only fails the typecheck on its action's line.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Input<A extends RequestAction> = z.input<(typeof requestSchemas)[A]>;
type Holds<Check extends true> = Check;
export type ContractMatchesSchemas = [
  // A start's action is optional: an event without one means start.
  Holds<Same<Omit<StartRequest, 'action'>, Omit<Input<'start'>, 'action'>>>,
  Holds<Same<StatusRequest, Input<'status'>>>,
  Holds<Same<StopRequest, Input<'stop'>>>,
  Holds<Same<ResumeRequest, Input<'resume'>>>,
  Holds<Same<HistoryRequest, Input<'history'>>>,
  Holds<Same<WatchdogRequest, Input<'watchdog'>>>,
  Holds<Same<FailuresRequest, Input<'failures'>>>,
  Holds<Same<ReplayRequest, Input<'replay'>>>,
  Holds<Same<SegmentEvent, Input<'segment'>>>,
];
