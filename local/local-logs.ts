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
    const matching = events.filter(
      (e) => e.timestamp >= start && e.timestamp <= end && terms.every((term) => e.message.includes(term)),
    );
    const limit = typeof input.limit === 'number' ? Math.min(MAX_LIMIT, Math.max(1, input.limit)) : MAX_LIMIT;
    const from = typeof input.nextToken === 'string' ? Number(input.nextToken) : 0;
    const page = matching.slice(from, from + limit);
    return { events: page, ...(from + limit < matching.length ? { nextToken: String(from + limit) } : {}) };
  }
}

/** The terms of a filter pattern: `"scan started" error` is the two terms `scan started` and `error`. */
export function patternTerms(pattern: string): string[] {
  return [...pattern.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '').filter((t) => t !== '');
}
