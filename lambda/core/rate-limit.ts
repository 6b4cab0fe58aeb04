import type { Clock } from './ports';

/** A paced caller that was idle may then send this many seconds' worth at once. */
const BURST_SECONDS = 0.2;

/**
 * A token bucket that lets a caller run ahead by a fifth of a second's worth and then paces it
 * to `rate` units per second. `take(n)` waits until the bucket is not in debt, then takes `n`,
 * which may put it in debt: a batch larger than the burst still goes, and the next one waits
 * longer.
 *
 * @example
 * const reads = new RateLimiter(clock, 100); // 100 read units per second
 * await reads.take(page.readUnits);
 */
export class RateLimiter {
  private tokens: number;
  private at: number;
  /** When a take last had to wait: the rate was what held the caller back. */
  lastWaitAt = Number.NEGATIVE_INFINITY;
  /** The takes before the next one, which waits its turn; how many, and the units they wait to take. */
  private queue: Promise<unknown> = Promise.resolve();
  private waiters = 0;
  private waiting = 0;

  constructor(
    private readonly clock: Clock,
    private rate: number,
  ) {
    this.tokens = rate * BURST_SECONDS;
    this.at = clock.now();
  }

  /** Units per second; Infinity lets every call through at once. */
  get unitsPerSecond(): number {
    return this.rate;
  }

  set unitsPerSecond(rate: number) {
    this.refill();
    this.rate = rate;
    this.tokens = Math.min(this.tokens, this.burst());
  }

  /**
   * Takes `units`, first waiting while the bucket is in debt. False, without taking, when that
   * wait would reach `until` (epoch ms): the caller stops before its deadline instead. With
   * `forceBy`, a take whose wait would reach `until` is taken at once instead (the bucket goes
   * into debt, so later takes wait), while it is before `forceBy`.
   *
   * Callers take in order of arrival, a later one never before an earlier one that waits (the
   * records of a page go out in their order, and a checkpoint can move past them at a hand-off);
   * an unforced one whose turn cannot come before `until`, behind the debt and the takes
   * waiting, is refused at once.
   */
  take(units: number, until = Number.POSITIVE_INFINITY, forceBy?: number): Promise<boolean> {
    if (this.rate === Number.POSITIVE_INFINITY && this.waiters === 0) return Promise.resolve(true);
    if (forceBy === undefined && this.rate !== Number.POSITIVE_INFINITY) {
      this.refill();
      const ahead = Math.max(0, this.waiting - this.tokens);
      if (this.clock.now() + Math.ceil((ahead / this.rate) * 1000) >= until) return Promise.resolve(false);
    }
    this.waiters++;
    this.waiting += units;
    const turn = this.queue.then(() => this.takeInTurn(units, until, forceBy ?? Number.NEGATIVE_INFINITY));
    this.queue = turn.catch(() => false);
    return turn;
  }

  private async takeInTurn(units: number, until: number, forceBy: number): Promise<boolean> {
    try {
      for (;;) {
        if (this.rate === Number.POSITIVE_INFINITY) return true;
        const now = this.clock.now();
        this.refill();
        const wait = this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
        // A wait that would end at `until` leaves no time to send either.
        const inTime = now + wait < until;
        if (inTime && wait > 0) {
          this.lastWaitAt = now;
          await this.clock.sleep(wait);
          continue;
        }
        if (!inTime && now >= forceBy) return false;
        this.tokens -= units;
        return true;
      }
    } finally {
      // Its units no longer wait, whether taken or refused.
      this.waiters--;
      this.waiting = this.waiters === 0 ? 0 : this.waiting - units;
    }
  }

  /** What an idle caller may save up: a fifth of a second's worth. */
  private burst(): number {
    return this.rate * BURST_SECONDS;
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.rate !== Number.POSITIVE_INFINITY) {
      this.tokens = Math.min(this.burst(), this.tokens + ((now - this.at) / 1000) * this.rate);
    }
    this.at = now;
  }
}

/**
 * A record's cost in shard-seconds (`shardSeconds(400)` is 0.001, `shardSeconds(512 * 1024)` 0.5): a shard takes 1,000 records and 1 MiB a second, so a record
 * uses the larger of a thousandth of a second and its size over 1 MiB. A stream of N shards
 * takes N of these units a second.
 */
export function shardSeconds(bytes: number): number {
  return Math.max(1 / 1000, bytes / (1024 * 1024));
}

export interface AdaptiveRateOptions {
  /**
   * The pace to start at, in shard-seconds per second: the chain's share of the stream's
   * shards, when known. @default Infinity: unpaced
   */
  readonly initial?: number;
  /** Never send more records a second than this (a scan's `maxItemsPerSecond` share). @default Infinity */
  readonly maxRecordsPerSecond?: number;
  /** Never pace below this. @default 0.01, 10 small records a second */
  readonly floor?: number;
}

/** The pace after a throttled round trip, as a share of the pace before it. */
const DECREASE = 0.75;
/**
 * After a decrease, refusals of requests sent within this long are not counted again: the
 * shards' buckets refill only gradually, so those say little about the new pace.
 */
const SETTLE_MS = 200;
/** While unpaced, the rate sent is measured over this long. */
const WINDOW_MS = 1000;

/**
 * Paces a chain's writes to a stream that throttles, in shard-seconds per second (see
 * `shardSeconds`). It starts at `initial` (the chain's share of the stream's shards, when
 * known), falls by a quarter on each throttled round trip, and rises by 10% a second (at least
 * 0.05 shard a second) while answers are clean. Chains that share a stream each back off on
 * their own throttling and so settle near a fair share of it, as TCP flows do, instead of
 * resending most of their records. A fixed limit on records a second (`maxRecordsPerSecond`)
 * applies on top.
 *
 * A throttled answer counts only when its request was sent a while after the last decrease:
 * the requests already in flight reflect the old pace.
 *
 * @example
 * const pace = new AdaptiveRate(clock, { initial: shards / segments });
 * const sentAt = await pace.acquire(units, records.length, deadline); // undefined: no time left
 * if (throttled) pace.throttled(sentAt); else pace.accepted();
 */
export class AdaptiveRate {
  private readonly limiter: RateLimiter;
  private readonly records: RateLimiter;
  private readonly floor: number;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private lastIncreaseAt: number;
  /** Sends of the last second, while unpaced: the first decrease starts from their rate. */
  private readonly sent: { at: number; count: number }[] = [];

  constructor(
    private readonly clock: Clock,
    options: AdaptiveRateOptions = {},
  ) {
    this.floor = options.floor ?? 0.01;
    this.limiter = new RateLimiter(clock, options.initial ?? Number.POSITIVE_INFINITY);
    this.records = new RateLimiter(clock, options.maxRecordsPerSecond ?? Number.POSITIVE_INFINITY);
    this.lastIncreaseAt = clock.now();
  }

  /** Shard-seconds per second now allowed; Infinity when unpaced. */
  get pace(): number {
    return this.limiter.unitsPerSecond;
  }

  /**
   * How much one PutRecords request should carry: everything while unpaced; once paced, a
   * tenth of a second's worth, so a chain's writes arrive as a stream rather than as bursts
   * the shards refuse.
   */
  get unitsPerRequest(): number {
    return this.limiter.unitsPerSecond / 10;
  }

  /** Records one request may carry under `maxRecordsPerSecond`: a tenth of a second's worth. */
  get recordsPerRequest(): number {
    return Math.max(1, Math.floor(this.records.unitsPerSecond / 10));
  }

  /** Records a second this chain may send at most: the lower of its pace and its limit. */
  get recordsPerSecond(): number {
    return Math.min(this.records.unitsPerSecond, this.limiter.unitsPerSecond / shardSeconds(0));
  }

  /**
   * Waits until `records` of `units` shard-seconds may be sent; returns the time they are sent,
   * for `throttled`, or undefined when the pace would not allow them before `until` (epoch ms)
   * and they are not forced (`forceBy`: sent at once instead, while it is before that).
   */
  async acquire(
    units: number,
    records: number,
    until = Number.POSITIVE_INFINITY,
    options: { readonly forceBy?: number } = {},
  ): Promise<number | undefined> {
    // Forced (an invocation's first page): what the pace has no time for before `until` is
    // charged instead of waited for, so later sends wait; but nothing is sent after `forceBy`.
    if (!(await this.records.take(records, until, options.forceBy))) return undefined;
    if (!(await this.limiter.take(units, until, options.forceBy))) return undefined;
    const now = this.clock.now();
    if (this.limiter.unitsPerSecond === Number.POSITIVE_INFINITY) {
      this.sent.push({ at: now, count: units });
      while ((this.sent[0]?.at ?? now) < now - WINDOW_MS) this.sent.shift();
    }
    return now;
  }

  /** Kinesis accepted part or all of a request: the pace rises while it is what holds sends back. */
  accepted(): void {
    const now = this.clock.now();
    const rate = this.limiter.unitsPerSecond;
    const seconds = (now - this.lastIncreaseAt) / 1000;
    this.lastIncreaseAt = now;
    // Raised only while the pace is what holds the sends back: time spent idle, or waiting on
    // something else, is no evidence that the stream takes more.
    const held = this.limiter.lastWaitAt >= now - seconds * 1000;
    if (rate !== Number.POSITIVE_INFINITY && held) {
      this.limiter.unitsPerSecond = rate + seconds * Math.max(0.05, 0.1 * rate);
    }
  }

  /**
   * The chain's share grew `factor` times (fewer chains write to the stream now): the pace grows
   * as much at once, rather than by 10% a second, and to at least `initial`, the new share, where
   * a new invocation would start (what throttling taught it counts above that share), and the
   * record limit becomes `maxRecordsPerSecond`.
   */
  reshare(factor: number, options: { readonly initial: number; readonly maxRecordsPerSecond: number }): void {
    const grown = this.limiter.unitsPerSecond * factor;
    // An unknown share (Infinity: a scan recorded before shards were kept) does not unpace it.
    this.limiter.unitsPerSecond = Number.isFinite(options.initial) ? Math.max(grown, options.initial) : grown;
    this.records.unitsPerSecond = options.maxRecordsPerSecond;
  }

  /** Kinesis throttled part of a request sent at `sentAt`. */
  throttled(sentAt: number): void {
    if (sentAt <= this.lastDecreaseAt + SETTLE_MS) return;
    const now = this.clock.now();
    this.lastDecreaseAt = now;
    this.lastIncreaseAt = now;
    const paced = this.limiter.unitsPerSecond;
    const from = paced === Number.POSITIVE_INFINITY ? this.sentRate(now) : paced;
    this.limiter.unitsPerSecond = Math.max(this.floor, DECREASE * from);
  }

  /** Units sent per second over the last second (or since the first send, if sooner). */
  private sentRate(now: number): number {
    const count = this.sent.reduce((sum, s) => sum + s.count, 0);
    // At least a tenth of a second, so one burst does not read as an absurd rate.
    return (count * 1000) / Math.max(100, now - (this.sent[0]?.at ?? now));
  }
}
