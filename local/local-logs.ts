/** The local stack's CloudWatch Logs: what its Lambda functions wrote, served as FilterLogEvents. */

/** Lines kept per log group: the newest; the oldest go first. */
const MAX_EVENTS_PER_GROUP = 20_000;
/** FilterLogEvents: at most 10,000 events a call. */
const MAX_LIMIT = 10_000;

export interface LogEvent {
  readonly eventId: string;
  readonly timestamp: number;
  readonly ingestionTime: number;
  readonly logStreamName: string;
  readonly message: string;
}

/**
 * Log lines by log group, and the subset of FilterLogEvents that `ddbscan logs` and the AWS CLI
 * use: a time range, a filter pattern of terms (each plain or "quoted", all of them in the
 * message), a limit and paging.
 *
 * @example
 * logs.append('/aws/lambda/ddbscan-local', '2026/12/01/[$LATEST]local', '{"message":"scan started"}');
 * logs.filter({ logGroupName: '/aws/lambda/ddbscan-local', filterPattern: '"scan started"' });
 */
export class LocalLogs {
  private readonly groups = new Map<string, LogEvent[]>();
  private sequence = 0;

  append(group: string, stream: string, message: string, timestamp = Date.now()): void {
    let events = this.groups.get(group);
    if (events === undefined) {
      events = [];
      this.groups.set(group, events);
    }
    events.push({
      eventId: String(++this.sequence).padStart(20, '0'),
      timestamp,
      ingestionTime: timestamp,
      logStreamName: stream,
      message,
    });
    if (events.length > MAX_EVENTS_PER_GROUP) events.splice(0, events.length - MAX_EVENTS_PER_GROUP);
  }

  /** FilterLogEvents' answer; throws `ResourceNotFoundException` (by name) for an unknown group. */
  filter(input: Record<string, unknown>): { events: LogEvent[]; nextToken?: string } {
    const group = String(input.logGroupName ?? '');
    const events = this.groups.get(group);
    if (events === undefined) {
      throw Object.assign(new Error('The specified log group does not exist.'), {
        type: 'ResourceNotFoundException',
      });
    }
    const start = typeof input.startTime === 'number' ? input.startTime : 0;
    const end = typeof input.endTime === 'number' ? input.endTime : Number.POSITIVE_INFINITY;
    const terms = patternTerms(typeof input.filterPattern === 'string' ? input.filterPattern : '');
    // The token is the id of the last event returned: a page goes on after it, however the
    // group grew or dropped its oldest lines since.
    const after = typeof input.nextToken === 'string' ? input.nextToken : '';
    const matching = events.filter(
      (e) =>
        e.eventId > after &&
        e.timestamp >= start &&
        e.timestamp <= end &&
        terms.every((term) => e.message.includes(term)),
    );
    const limit = typeof input.limit === 'number' ? Math.min(MAX_LIMIT, Math.max(1, input.limit)) : MAX_LIMIT;
    const page = matching.slice(0, limit);
    const last = page.at(-1);
    return { events: page, ...(matching.length > limit && last ? { nextToken: last.eventId } : {}) };
  }
}

/**
 * The terms of a filter pattern: `"scan started" error` is the two terms `scan started` and
 * `error`, both required. JSON (`{ … }`), space-delimited (`[ … ]`), `-term` and `?term`
 * patterns are refused as CloudWatch would refuse bad syntax, rather than matched as text.
 */
export function patternTerms(pattern: string): string[] {
  const terms = [...pattern.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => ({
    quoted: m[1] !== undefined,
    text: m[1] ?? m[2] ?? '',
  }));
  const unsupported = terms.find((t) => !t.quoted && /^[{[?-]/.test(t.text));
  if (unsupported !== undefined) {
    throw Object.assign(
      new Error(
        `The local stack's logs take terms ("quoted" or plain, all required), not ${JSON.stringify(unsupported.text)}.`,
      ),
      { type: 'InvalidParameterException' },
    );
  }
  return terms.map((t) => t.text).filter((t) => t !== '');
}
