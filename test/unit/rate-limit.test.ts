import { describe, expect, it } from 'vitest';
import type { Clock } from '../../lambda/core/ports';
import { AdaptiveRate, RateLimiter, shardSeconds } from '../../lambda/core/rate-limit';

/** A clock whose sleep moves time forward at once. */
function fakeClock(): Clock & { advance(ms: number): void; slept: number } {
  let now = 0;
  return {
    slept: 0,
    now: () => now,
    advance(ms) {
      now += ms;
    },
    async sleep(ms) {
      this.slept += ms;
      now += ms;
    },
  };
}

describe('RateLimiter', () => {
  it('lets callers go in order of arrival, and refuses at once one whose turn would come too late', async () => {
    let now = 0;
    const sleepers: (() => void)[] = [];
    const clock: Clock = { now: () => now, sleep: () => new Promise((resolve) => sleepers.push(resolve)) };
    const limiter = new RateLimiter(clock, 10);
    await limiter.take(7); // the burst of 2, and 5 in debt
    const order: string[] = [];
    const first = limiter.take(1).then(() => order.push('first'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sleepers).toHaveLength(1);

    // The debt is paid while the first still sleeps; a later caller waits behind it.
    now += 600;
    const later = limiter.take(1).then(() => order.push('later'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    // One that must go within 10 ms behind the two waiting is answered at once.
    await expect(limiter.take(5, now + 10)).resolves.toBe(false);

    sleepers.shift()?.();
    await Promise.all([first, later]);
    expect(order).toEqual(['first', 'later']);
  });

  it('lets takes the bucket covers go at once, however many arrive together', async () => {
    const limiter = new RateLimiter(fakeClock(), 10); // a burst of 2

    await expect(Promise.all([limiter.take(1, 50), limiter.take(1, 50)])).resolves.toEqual([true, true]);
    // Out of tokens but not in debt: one more goes; after it the wait (100 ms) passes the deadline.
    await expect(Promise.all([limiter.take(1, 50), limiter.take(1, 50)])).resolves.toEqual([true, false]);
  });

  it('keeps forced takes in their order: one that cannot wait goes after those before it', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(clock, 1);
    await limiter.take(0.5); // 0.3 in debt after the burst of 0.2
    const sent: [string, number][] = [];
    await Promise.all(
      ['b0', 'b1', 'b2', 'b3'].map((name) =>
        limiter.take(0.3, 1000, 1000).then((taken) => {
          if (taken) sent.push([name, clock.now()]);
        }),
      ),
    );

    expect(sent.map(([name]) => name)).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(sent.every(([, at]) => at < 1000)).toBe(true);
  });

  it('lets a fifth of a second go at once, then paces to the rate', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(clock, 100);

    await limiter.take(20);
    expect(clock.slept).toBe(0);
    for (let i = 0; i < 10; i++) await limiter.take(10);

    // 100 units after the first 20 at 100 a second: about a second.
    expect(clock.now()).toBeGreaterThanOrEqual(900);
    expect(clock.now()).toBeLessThanOrEqual(1100);
  });

  it('lets a take larger than the burst through, and makes the next one wait for it', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(clock, 100);

    await limiter.take(300);
    expect(clock.slept).toBe(0);
    await limiter.take(1);

    // 20 saved, 300 taken: 280 in debt, 2.8 s at 100 a second.
    expect(clock.slept).toBe(2800);
  });

  it('never waits at an infinite rate', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(clock, Number.POSITIVE_INFINITY);

    for (let i = 0; i < 100; i++) await limiter.take(1_000_000);

    expect(clock.slept).toBe(0);
  });
});

describe('shardSeconds', () => {
  it('charges a small record a thousandth of a shard-second and a large one its share of 1 MiB', () => {
    expect(shardSeconds(400)).toBe(0.001);
    expect(shardSeconds(512 * 1024)).toBe(0.5);
  });
});

describe('AdaptiveRate', () => {
  it('starts at the given pace and writes at most a tenth of a second per request', () => {
    const rate = new AdaptiveRate(fakeClock(), { initial: 0.5 });

    expect(rate.pace).toBe(0.5);
    expect(rate.unitsPerRequest).toBeCloseTo(0.05);
  });

  it('is unpaced without a starting pace, then backs off to three quarters of what it sent', async () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock);
    expect(rate.pace).toBe(Number.POSITIVE_INFINITY);
    expect(rate.unitsPerRequest).toBe(Number.POSITIVE_INFINITY);

    let sentAt = 0;
    for (let i = 0; i < 5; i++) {
      sentAt = (await rate.acquire(1, 1000)) ?? 0;
      clock.advance(100);
    }
    rate.throttled(sentAt);

    // 5 units sent between 0 and 400 ms, measured at 500 ms: 10 a second; three quarters of it.
    expect(rate.pace).toBeCloseTo(7.5);
  });

  it('grows by the factor its share grew, to at least the new share', () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { initial: 2, maxRecordsPerSecond: 30 });
    clock.advance(1000);
    rate.throttled(clock.now());
    expect(rate.pace).toBe(1.5);

    // Four chains on 6 shards (1.5 each) become two: twice the pace, 3, above the new share of 3 less
    // what another writer takes (say 2).
    rate.reshare(2, { initial: 2, maxRecordsPerSecond: 45 });
    expect(rate.pace).toBe(3);
    expect(rate.recordsPerSecond).toBe(45);
    // Much throttled (by other writers, say), then alone: at least the whole share.
    rate.throttled(clock.now() + 1000);
    rate.reshare(2, { initial: 6, maxRecordsPerSecond: 90 });
    expect(rate.pace).toBe(6);

    // A pace learned without a known share is scaled, never unpaced.
    const unknown = new AdaptiveRate(clock);
    unknown.throttled(clock.now());
    const learned = unknown.pace;
    unknown.reshare(2, { initial: Number.POSITIVE_INFINITY, maxRecordsPerSecond: Number.POSITIVE_INFINITY });
    expect(unknown.pace).toBe(2 * learned);
  });

  it('falls by a quarter per throttled round trip, not once per refused request in flight', () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { initial: 4 });
    clock.advance(1000);

    rate.throttled(clock.now() - 50);
    rate.throttled(clock.now() - 10);
    clock.advance(100);
    rate.throttled(clock.now() - 1);
    expect(rate.pace).toBe(3);

    clock.advance(500);
    rate.throttled(clock.now());
    expect(rate.pace).toBe(2.25);
  });

  it('rises by 10% a second (at least 0.05) while it holds clean sends back', async () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { initial: 2 });

    // 0.4 saved: the second send waits for the pace.
    await rate.acquire(1, 1);
    await rate.acquire(1, 1);
    clock.advance(1000 - clock.now());
    rate.accepted();
    expect(rate.pace).toBeCloseTo(2.2);

    const slow = new AdaptiveRate(clock, { initial: 0.1 });
    await slow.acquire(0.1, 100);
    await slow.acquire(0.1, 100);
    slow.accepted();
    // Waited 800 ms for tokens: 0.05 a second of it.
    expect(slow.pace).toBeCloseTo(0.1 + 0.05 * 0.8);
  });

  it('does not rise while nothing waits on it: idle time is no evidence the stream takes more', () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { initial: 2 });

    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      rate.accepted();
    }

    expect(rate.pace).toBe(2);
  });

  it('never sends more records a second than its limit, a tenth of a second per request', async () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { maxRecordsPerSecond: 50 });
    expect(rate.recordsPerRequest).toBe(5);
    expect(rate.recordsPerSecond).toBe(50);

    for (let i = 0; i < 20; i++) await rate.acquire(0.005, 5);

    // 10 saved and one request of debt, then 85 records at 50 a second.
    expect(clock.now()).toBe(1700);
  });

  it('gives up, without waiting, when the pace leaves no time before the deadline', async () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { initial: 1 });

    expect(await rate.acquire(2, 1000, 10_000)).toBe(0);
    expect(await rate.acquire(0.1, 100, 1500)).toBeUndefined();

    expect(clock.slept).toBe(0);
  });

  it('stays unpaced through clean answers', async () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock);

    for (let i = 0; i < 3; i++) {
      await rate.acquire(1, 500);
      rate.accepted();
    }

    expect(rate.pace).toBe(Number.POSITIVE_INFINITY);
    expect(clock.slept).toBe(0);
  });

  it('never paces below the floor', () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { initial: 1, floor: 0.25 });

    for (let i = 0; i < 20; i++) {
      clock.advance(1000);
      rate.throttled(clock.now());
    }

    expect(rate.pace).toBe(0.25);
  });

  it('waits for the pace before a send', async () => {
    const clock = fakeClock();
    const rate = new AdaptiveRate(clock, { initial: 1 });

    for (let i = 0; i < 5; i++) await rate.acquire(0.5, 500);

    // 0.2 saved, then 2.5 units at 1 a second: the fifth send waits until 1.8 s.
    expect(clock.now()).toBe(1800);
  });
});
