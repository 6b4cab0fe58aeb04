import {
  AccessDeniedException,
  DescribeStreamSummaryCommand,
  KinesisClient,
  LimitExceededException,
  ProvisionedThroughputExceededException,
  PutRecordsCommand,
  type PutRecordsCommandInput,
  type PutRecordsResultEntry,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { KinesisRecordSink, type KinesisRecordSinkOptions } from '../../lambda/adapters/kinesis-record-sink';
import { DeadlineError, FatalScanError, TransientError } from '../../lambda/core/errors';
import type { Clock } from '../../lambda/core/ports';
import { AdaptiveRate } from '../../lambda/core/rate-limit';
import type { OutboundRecord } from '../../lambda/core/record-format';

const STREAM = 'scan-stream';
const START = 1_700_000_000_000;

const kinesis = mockClient(KinesisClient);

/** A clock whose sleep only moves time forward, so backoff costs no real time. */
function fakeClock(start = START): { clock: Clock; sleeps: number[] } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: {
      now: () => now,
      sleep: (ms) => {
        sleeps.push(ms);
        now += ms;
        return Promise.resolve();
      },
    },
  };
}

function records(count: number): OutboundRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    partitionKey: `pk-${i}`,
    data: Uint8Array.from([i % 256, Math.floor(i / 256)]),
  }));
}

const entry = (record: OutboundRecord) => ({ Data: record.data, PartitionKey: record.partitionKey });
const accepted: PutRecordsResultEntry = {
  SequenceNumber: '49590338271490256608559692538361571095921575989136588898',
  ShardId: 'shardId-000000000000',
};
const throttled: PutRecordsResultEntry = {
  ErrorCode: 'ProvisionedThroughputExceededException',
  ErrorMessage: 'Rate exceeded for shard shardId-000000000000',
};
const internalFailure: PutRecordsResultEntry = {
  ErrorCode: 'InternalFailure',
  ErrorMessage: 'Internal service failure.',
};

/** Answers every request with the same result for each of its entries. */
function answerEach(result: PutRecordsResultEntry) {
  return (input: PutRecordsCommandInput) => ({
    FailedRecordCount: result.ErrorCode === undefined ? 0 : (input.Records?.length ?? 0),
    Records: (input.Records ?? []).map(() => result),
  });
}

function sentInputs(): PutRecordsCommandInput[] {
  return kinesis.commandCalls(PutRecordsCommand).map((call) => call.args[0].input);
}

function newSink(
  clock: Clock,
  random: () => number = () => 0.5,
  options: KinesisRecordSinkOptions = {},
): KinesisRecordSink {
  return new KinesisRecordSink(new KinesisClient({ region: 'us-east-1', maxAttempts: 1 }), STREAM, clock, {
    random,
    ...options,
  });
}

describe('KinesisRecordSink', () => {
  beforeEach(() => {
    kinesis.reset();
  });

  it('sends records as separate PutRecords calls of at most 500, batched in order', async () => {
    kinesis.on(PutRecordsCommand).callsFake(answerEach(accepted));
    const input = records(1201);

    const summary = await newSink(fakeClock().clock).putRecords(input, START + 60_000);

    const sent = sentInputs();
    expect(sent.map((call) => call.Records?.length)).toEqual([500, 500, 201]);
    expect(sent.every((call) => call.StreamName === STREAM)).toBe(true);
    expect(sent.flatMap((call) => call.Records ?? [])).toEqual(input.map(entry));
    expect(summary).toEqual({
      records: 1201,
      bytes: 1201 * 2 + input.reduce((n, r) => n + r.partitionKey.length, 0),
      resent: 0,
    });
  });

  it("writes a page's batches concurrently, never more than the bound at once", async () => {
    let inFlight = 0;
    let most = 0;
    kinesis.on(PutRecordsCommand).callsFake(async (input: PutRecordsCommandInput) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 10));
      inFlight--;
      return answerEach(accepted)(input);
    });

    const summary = await newSink(fakeClock().clock, undefined, { maxBatchesInFlight: 3 }).putRecords(
      records(500 * 7),
      START + 60_000,
    );

    expect(most).toBe(3);
    expect(sentInputs()).toHaveLength(7);
    expect(summary.records).toBe(3500);
  });

  it('shares the bound on calls in flight between pages written at once', async () => {
    let inFlight = 0;
    let most = 0;
    kinesis.on(PutRecordsCommand).callsFake(async (input: PutRecordsCommandInput) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 10));
      inFlight--;
      return answerEach(accepted)(input);
    });
    const sink = newSink(fakeClock().clock, undefined, { maxBatchesInFlight: 4 });

    await Promise.all([
      sink.putRecords(records(500 * 3), START + 60_000),
      sink.putRecords(records(500 * 3), START + 60_000),
    ]);

    expect(most).toBe(4);
    expect(sentInputs()).toHaveLength(6);
  });

  it('paces its requests, in requests of a tenth of a second, and slows down when the stream throttles', async () => {
    const { clock, sleeps } = fakeClock();
    let calls = 0;
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      calls++;
      // The stream refuses half of the fourth request.
      const refuse = calls === 4 ? Math.floor((input.Records ?? []).length / 2) : 0;
      return {
        FailedRecordCount: refuse,
        Records: (input.Records ?? []).map((_, i) => (i < refuse ? throttled : accepted)),
      };
    });
    // Two shards' worth: 2,000 small records a second.
    const pace = new AdaptiveRate(clock, { initial: 2 });

    const summary = await newSink(clock, () => 0, { maxBatchesInFlight: 1 }).putRecords(
      records(2000),
      START + 60_000,
      pace,
    );

    // Requests of 200 records (a tenth of a second); the 100 refused are resent.
    expect(sentInputs()[0]?.Records).toHaveLength(200);
    expect(summary.resent).toBe(100);
    expect(pace.pace).toBeLessThan(2);
    // 2,100 records at about 2,000 a second, then less: about a second, not at once.
    const waited = sleeps.reduce((sum, ms) => sum + ms, 0);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(1600);
  });

  it('sends a page at once when asked, charging the pace, though the pace alone would leave no time', async () => {
    kinesis.on(PutRecordsCommand).callsFake(answerEach(accepted));
    // Half a shard: 2,000 records take 4 s, and the deadline is 100 ms away.
    const paced = fakeClock();
    await expect(
      newSink(paced.clock).putRecords(
        records(2000),
        START + 100,
        new AdaptiveRate(paced.clock, { initial: 0.5 }),
      ),
    ).rejects.toThrow("the stream's pace leaves no time before the deadline");
    kinesis.resetHistory();

    const { clock, sleeps } = fakeClock();
    const pace = new AdaptiveRate(clock, { initial: 0.5 });
    const summary = await newSink(clock).putRecords(records(2000), START + 100, pace, { atOnce: true });

    expect(summary.records).toBe(2000);
    expect(clock.now()).toBeLessThan(START + 100);
    // The pace was charged: the next send waits for it, here past the deadline.
    await expect(pace.acquire(0.001, 1, START + 100)).resolves.toBeUndefined();
    expect(sleeps.every((ms) => ms < 100)).toBe(true);
  });

  it('sends no first attempt after sendBy, except of a page that must go at once', async () => {
    kinesis.on(PutRecordsCommand).callsFake(answerEach(accepted));
    const { clock } = fakeClock(START + 200);
    const pace = () => new AdaptiveRate(clock, { initial: 0.5 });

    await expect(
      newSink(clock).putRecords(records(10), START + 1000, pace(), { sendBy: START + 100 }),
    ).rejects.toThrow("the stream's pace leaves no time before the deadline");
    expect(kinesis).not.toHaveReceivedCommand(PutRecordsCommand);

    const sent = await newSink(clock).putRecords(records(10), START + 1000, pace(), {
      sendBy: START + 100,
      atOnce: true,
    });
    expect(sent.records).toBe(10);
  });

  it('fails on a fatal refusal of any batch, not only of the first', async () => {
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      if (input.Records?.[0]?.PartitionKey === 'pk-500') {
        throw new AccessDeniedException({ message: 'no', $metadata: {} });
      }
      return answerEach(throttled)(input);
    });
    const { clock } = fakeClock();

    const error = await newSink(clock, () => 0.5)
      .putRecords(records(700), START + 1000)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FatalScanError);
  });

  it('sends nothing after the deadline, even a page asked to go at once', async () => {
    kinesis.on(PutRecordsCommand).callsFake(answerEach(accepted));
    const { clock } = fakeClock(START + 200);

    await expect(
      newSink(clock).putRecords(records(10), START + 100, new AdaptiveRate(clock, { initial: 0.5 }), {
        atOnce: true,
      }),
    ).rejects.toThrow("the stream's pace leaves no time before the deadline");
    expect(kinesis).not.toHaveReceivedCommand(PutRecordsCommand);
  });

  it('sends nothing for no records', async () => {
    const summary = await newSink(fakeClock().clock).putRecords([], START + 60_000);

    expect(kinesis).not.toHaveReceivedCommand(PutRecordsCommand);
    expect(summary).toEqual({ records: 0, bytes: 0, resent: 0 });
  });

  it('resends only the entries that failed in a partial failure and reports them as resent', async () => {
    const input = records(5);
    kinesis
      .on(PutRecordsCommand)
      .resolvesOnce({
        FailedRecordCount: 2,
        Records: [accepted, throttled, accepted, internalFailure, accepted],
      })
      .resolvesOnce({ FailedRecordCount: 0, Records: [accepted, accepted] });
    const { clock, sleeps } = fakeClock();

    const summary = await newSink(clock).putRecords(input, START + 60_000);

    expect(sentInputs()).toEqual([
      { StreamName: STREAM, Records: input.map(entry) },
      {
        StreamName: STREAM,
        Records: [
          { Data: Uint8Array.from([1, 0]), PartitionKey: 'pk-1' },
          { Data: Uint8Array.from([3, 0]), PartitionKey: 'pk-3' },
        ],
      },
    ]);
    expect(summary.resent).toBe(2);
    expect(summary.records).toBe(5);
    expect(sleeps).toHaveLength(1);
  });

  it('counts every resend, so an entry that fails in two rounds counts twice', async () => {
    const input = records(4);
    kinesis
      .on(PutRecordsCommand)
      .resolvesOnce({ FailedRecordCount: 3, Records: [throttled, accepted, throttled, internalFailure] })
      .resolvesOnce({ FailedRecordCount: 1, Records: [accepted, accepted, throttled] })
      .resolvesOnce({ FailedRecordCount: 0, Records: [accepted] });

    const summary = await newSink(fakeClock().clock).putRecords(input, START + 60_000);

    expect(sentInputs().map((call) => call.Records?.map((r) => r.PartitionKey))).toEqual([
      ['pk-0', 'pk-1', 'pk-2', 'pk-3'],
      ['pk-0', 'pk-2', 'pk-3'],
      ['pk-3'],
    ]);
    expect(summary.resent).toBe(4);
  });

  it('adds up the resent entries of every batch', async () => {
    const input = records(501);
    let calls = 0;
    kinesis.on(PutRecordsCommand).callsFake((request: PutRecordsCommandInput) => {
      calls += 1;
      // The first attempt of each batch loses its last entry.
      const entries = request.Records ?? [];
      const failLast = calls === 1 || calls === 3;
      return {
        FailedRecordCount: failLast ? 1 : 0,
        Records: entries.map((_, i) => (failLast && i === entries.length - 1 ? throttled : accepted)),
      };
    });

    const summary = await newSink(fakeClock().clock).putRecords(input, START + 60_000);

    expect(sentInputs().map((call) => call.Records?.length)).toEqual([500, 1, 1, 1]);
    expect(summary).toMatchObject({ records: 501, resent: 2 });
  });

  it('retries the whole batch when the request itself is throttled', async () => {
    const input = records(3);
    kinesis
      .on(PutRecordsCommand)
      .rejectsOnce(
        new ProvisionedThroughputExceededException({ message: 'Rate exceeded for stream', $metadata: {} }),
      )
      .callsFake(answerEach(accepted));

    const summary = await newSink(fakeClock().clock).putRecords(input, START + 60_000);

    expect(sentInputs()).toEqual([
      { StreamName: STREAM, Records: input.map(entry) },
      { StreamName: STREAM, Records: input.map(entry) },
    ]);
    expect(summary.resent).toBe(3);
  });

  it('reports what the page got accepted before time ran out, for the metrics', async () => {
    // Two batches: the first is accepted, the second keeps one entry refused until the deadline.
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      const entries = input.Records ?? [];
      const stuck = entries.findIndex((e) => e.PartitionKey === 'pk-600');
      return {
        FailedRecordCount: stuck < 0 ? 0 : 1,
        Records: entries.map((_, i) => (i === stuck ? internalFailure : accepted)),
      };
    });
    const input = records(700);

    const error = await newSink(fakeClock().clock, () => 0.5)
      .putRecords(input, START + 1000)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeadlineError);
    const stuck = input.find((r) => r.partitionKey === 'pk-600');
    const bytes = input
      .filter((r) => r !== stuck)
      .reduce((sum, r) => sum + r.data.byteLength + r.partitionKey.length, 0);
    // 699 accepted; the stuck entry was sent 5 times, resent 4.
    expect((error as DeadlineError).partial).toEqual({ records: 699, bytes, resent: 4 });
    // A checkpoint may move past the first batch and the second's records before the stuck one.
    const leading = input
      .slice(0, 600)
      .reduce((sum, r) => sum + r.data.byteLength + r.partitionKey.length, 0);
    expect((error as DeadlineError).acceptedPrefix).toEqual({ records: 600, bytes: leading });
  });

  it('resends throttled entries after one step of the backoff each time: the pace spaces them', async () => {
    kinesis.on(PutRecordsCommand).callsFake(answerEach(throttled));
    const { clock, sleeps } = fakeClock();
    const deadline = START + 1000;

    const error = await newSink(clock, () => 0.5)
      .putRecords(records(2), deadline)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeadlineError);
    // Half the 100 ms base each time, never the growing ceilings that would leave them behind;
    // the pace, slowed by each refusal, spaces the resends until it leaves no time.
    // A growing backoff would have sent 5 requests in the second (sleeping 50, 100, 200, 400).
    expect(sleeps.filter((ms) => ms === 50).length).toBeGreaterThan(5);
    expect(Math.max(...sleeps)).toBeLessThan(200);
    expect(kinesis.commandCalls(PutRecordsCommand).length).toBeGreaterThan(5);
    expect(clock.now()).toBeLessThan(deadline);
  });

  it('throws DeadlineError instead of sleeping past the deadline when failures persist', async () => {
    kinesis.on(PutRecordsCommand).callsFake(answerEach(internalFailure));
    const { clock, sleeps } = fakeClock();
    const deadline = START + 1000;

    const error = await newSink(clock, () => 0.5)
      .putRecords(records(2), deadline)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeadlineError);
    expect(error).toHaveProperty('message', expect.stringContaining('InternalFailure'));
    // Ceilings 100, 200, 400, 800, 1600 at random 0.5: the fifth delay (800) would end at START + 1550.
    expect(sleeps).toEqual([50, 100, 200, 400]);
    expect(kinesis).toHaveReceivedCommandTimes(PutRecordsCommand, 5);
    expect(clock.now()).toBeLessThan(deadline);
  });

  it('throws DeadlineError when request-level throttling outlasts the deadline', async () => {
    kinesis
      .on(PutRecordsCommand)
      .rejects(
        new ProvisionedThroughputExceededException({ message: 'Rate exceeded for stream', $metadata: {} }),
      );
    const { clock } = fakeClock();

    const error = await newSink(clock)
      .putRecords(records(1), START + 500)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeadlineError);
    expect(clock.now()).toBeLessThan(START + 500);
  });

  it.each([
    [
      'ResourceNotFoundException',
      new ResourceNotFoundException({ message: 'Stream scan-stream not found', $metadata: {} }),
    ],
    [
      'AccessDeniedException',
      new AccessDeniedException({ message: 'not authorized to perform kinesis:PutRecords', $metadata: {} }),
    ],
  ])(
    'turns %s into FatalScanError with the SDK error as cause, without retrying',
    async (_name, sdkError) => {
      kinesis.on(PutRecordsCommand).rejects(sdkError);
      const { clock, sleeps } = fakeClock();

      const error = await newSink(clock)
        .putRecords(records(2), START + 60_000)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FatalScanError);
      expect(error).toHaveProperty('cause', sdkError);
      expect(kinesis).toHaveReceivedCommandTimes(PutRecordsCommand, 1);
      expect(sleeps).toEqual([]);
    },
  );

  it('throws FatalScanError when PutRecords answers a different number of results than entries', async () => {
    kinesis.on(PutRecordsCommand).resolves({ FailedRecordCount: 0, Records: [accepted] });

    const error = await newSink(fakeClock().clock)
      .putRecords(records(2), START + 60_000)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FatalScanError);
  });

  it.each([0, 0.5, 0.999_999])(
    'keeps each backoff delay within the exponential full-jitter bounds (random %s)',
    async (r) => {
      const failures = 8;
      let calls = 0;
      kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
        calls += 1;
        // InternalFailure: backoff alone, without the pacing that throttling adds.
        return answerEach(calls <= failures ? internalFailure : accepted)(input);
      });
      const { clock, sleeps } = fakeClock();

      await newSink(clock, () => r).putRecords(records(1), START + 600_000);

      // Full jitter: attempt n sleeps a random share of min(5,000, 100 * 2^n), the default cap and base.
      const ceilings = [100, 200, 400, 800, 1600, 3200, 5000, 5000];
      expect(sleeps).toEqual(ceilings.map((ceiling) => Math.floor(r * ceiling)));
      for (const [attempt, delay] of sleeps.entries()) {
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceilings[attempt] ?? 0);
      }
    },
  );

  it('uses the configured base and largest backoff ceilings', async () => {
    let calls = 0;
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      calls += 1;
      return answerEach(calls <= 4 ? internalFailure : accepted)(input);
    });
    const { clock, sleeps } = fakeClock();

    await newSink(clock, () => 0.5, { baseDelayMs: 10, maxDelayMs: 40 }).putRecords(
      records(1),
      START + 60_000,
    );

    // Ceilings 10, 20, 40, then capped at 40.
    expect(sleeps).toEqual([5, 10, 20, 20]);
  });

  describe('describeStream', () => {
    /** The fields DescribeStreamSummary always returns, around the ones under test. */
    const summary = (mode: 'ON_DEMAND' | 'PROVISIONED', openShards: number) => ({
      StreamDescriptionSummary: {
        StreamName: STREAM,
        StreamARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${STREAM}`,
        StreamStatus: 'ACTIVE' as const,
        StreamModeDetails: { StreamMode: mode },
        RetentionPeriodHours: 24,
        StreamCreationTimestamp: new Date(START),
        EnhancedMonitoring: [],
        OpenShardCount: openShards,
      },
    });

    it('returns ON_DEMAND and the open shard count for an on-demand stream', async () => {
      kinesis.on(DescribeStreamSummaryCommand, { StreamName: STREAM }).resolves(summary('ON_DEMAND', 4));

      await expect(newSink(fakeClock().clock).describeStream()).resolves.toEqual({
        mode: 'ON_DEMAND',
        openShards: 4,
      });
      expect(kinesis).toHaveReceivedCommandExactlyOnceWith(DescribeStreamSummaryCommand, {
        StreamName: STREAM,
      });
    });

    it('returns PROVISIONED and the open shard count for a provisioned stream', async () => {
      kinesis.on(DescribeStreamSummaryCommand).resolves(summary('PROVISIONED', 12));

      await expect(newSink(fakeClock().clock).describeStream()).resolves.toEqual({
        mode: 'PROVISIONED',
        openShards: 12,
      });
    });

    it('turns ResourceNotFoundException into FatalScanError with the SDK error as cause', async () => {
      const sdkError = new ResourceNotFoundException({
        message: 'Stream scan-stream not found',
        $metadata: {},
      });
      kinesis.on(DescribeStreamSummaryCommand).rejects(sdkError);

      const error = await newSink(fakeClock().clock)
        .describeStream()
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FatalScanError);
      expect(error).toHaveProperty('cause', sdkError);
      expect(error).toHaveProperty('message', expect.stringContaining(STREAM));
    });

    it('turns LimitExceededException that outlasted the SDK retries into TransientError', async () => {
      const sdkError = new LimitExceededException({ message: 'Rate exceeded for stream', $metadata: {} });
      kinesis.on(DescribeStreamSummaryCommand).rejects(sdkError);

      const error = await newSink(fakeClock().clock)
        .describeStream()
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect(error).toHaveProperty('cause', sdkError);
    });
  });
});
