import { ScannerMetrics, ScanState, type SegmentEvent, SegmentState } from '../contract';
import { type AttributeMap, fromJsonMap } from './attribute-value';
import { recordBytes } from './batching';
import { DeadlineError, FatalScanError, isThrottling, StopRequestedError, SupersededError } from './errors';
import { isActive } from './lifecycle';
import { type Page, PEERS_PER_READ, type PutSummary, type ScannerPorts } from './ports';
import { AdaptiveRate, RateLimiter, shardSeconds } from './rate-limit';
import { buildRecord, pickKeys, type RecordContext } from './record-format';
import { completeScanIfDone, failScan, settleStoppingScan } from './scan-control';
import { firstCheckpoint, nextSegmentOf, type ScanRecord, type SegmentCheckpoint } from './scan-state';
import { encodeKey } from './ssm-value';
import { WriteTurns } from './write-turns';

/**
 * The segment loop's edge rules, in one place: each field names the case it settles and the
 * limit behind it.
 */
export const ChainPolicy = {
  /**
   * Consecutive invocations that complete no page, with the last one's write refused throughout,
   * before the scan is failed rather than retried forever.
   */
  maxStalledHandoffs: 3,
  /** Consecutive invocations that complete no page, for any reason, before the scan is failed. */
  maxIdleHandoffs: 10,
  /**
   * Relaunches of a chain (by the watchdog, a stall time after its last heartbeat) that did not
   * move it on, before the chain and the scan fail: invocations that die every time (out of
   * memory, a hang past the timeout) end the scan after about an hour, never loop.
   */
  maxRelaunches: 3,
  /**
   * An invocation that wrote no page counts as stalled when its first page's write kept failing
   * through this many attempts, or when that write had at least `stallWriteShare` of the
   * invocation's time and still did not get through (a stream too slow for even one page). One
   * that ran out of time after a single late attempt (the budget went on a slow scan) proves
   * nothing.
   */
  stallAttempts: 3,
  stallWriteShare: 0.5,
  /** The longest a throttled chain stretches its checkpoint interval. */
  maxCheckpointIntervalMs: 60_000,
  /**
   * A scan's first invocation of each chain checkpoints again this soon after its claim, then
   * after twice the gap each time, up to the checkpoint interval (never more often than its turns
   * of the write budget): the scan's progress shows within seconds of its start, for a few SSM
   * writes per chain.
   */
  firstCheckpointGapMs: 1000,
  /**
   * In a scan whose chains' checkpoints fit in one read, a chain reads them between its own
   * checkpoints every this many ms per chain (4 chains: every 2 s), so the scan reads at most 2
   * a second of SSM's 40, and the chains left take up a finished chain's share within seconds.
   */
  peerReadMsPerChain: 500,
  /**
   * Pages whose records may be in flight at once: the next page's writes start while the last
   * batches of the one before are answered. A superseded invocation notices at its next
   * checkpoint, and by then has sent at most one page more than it would have one page at a time.
   */
  pagesInFlight: 2,
  /**
   * A paced or rate-limited chain reads pages of at most this many seconds of its rate (in small
   * records: a page of large records may take longer, and is then cut short by the deadline).
   */
  pageSeconds: 10,
  /** A paced page limit this large is left out: DynamoDB's 1 MB pages rarely hold more items. */
  unpacedPageItems: 10_000,
} as const;

const NOTHING_PUT: PutSummary = { records: 0, bytes: 0, resent: 0 };

/** A page whose records are being written. */
interface PageWrite {
  /** The segment the page belongs to. */
  readonly segment: number;
  readonly page: Page;
  readonly write: Promise<PutSummary>;
}

export interface SegmentRunConfig {
  /** Epoch milliseconds at which this invocation is stopped by Lambda. */
  readonly deadline: number;
  /** Hand off when less than this remains before the deadline. */
  readonly handoffMs: number;
  readonly checkpointIntervalMs: number;
  /**
   * SSM writes per second shared by all chains of the scan: with 2 and 100 chains, each chain
   * writes at most once every 50 s (its hand-off and DONE writes excepted, one per invocation
   * and one per chain). Undefined: the interval alone.
   */
  readonly checkpointWritesPerSecond?: number;
  /** Used when the scan's options set no page size. */
  readonly pageSize?: number;
  readonly region: string;
  /** A completion claim older than this is taken over (its holder died). */
  readonly stalledAfterMs: number;
}

export type SegmentOutcome =
  | { readonly kind: 'stale'; readonly reason: string }
  | { readonly kind: 'handed-off'; readonly generation: number; readonly itemsScanned: number }
  | { readonly kind: 'done'; readonly scanCompleted: boolean; readonly itemsScanned: number }
  | { readonly kind: 'stopped'; readonly itemsScanned: number }
  | { readonly kind: 'failed'; readonly error: string };

/**
 * Runs one invocation of a chain: checks that it may run, scans page by page from the chain's
 * checkpoint, goes on with the chain's next segment when one ends, writes each page to the
 * stream, checkpoints on a time cadence inside the scan's SSM write budget, and hands off to a
 * new invocation before the deadline.
 *
 * Invariants: a checkpoint is saved only after every record before its position was accepted;
 * before each write the invocation checks that the scan still runs and that it still owns the
 * chain (generation and owner token; its first write claims the chain when nobody else wrote
 * since it read the checkpoint), and exits without writing when it does not.
 *
 * Transient errors are rethrown so that Lambda's async retry resumes from the checkpoint;
 * fatal ones mark the segment and the scan FAILED.
 *
 * @example
 * const outcome = await runSegment(event, { deadline, handoffMs: 15_000, checkpointIntervalMs: 10_000, region }, ports);
 */
export function runSegment(
  event: SegmentEvent,
  config: SegmentRunConfig,
  ports: ScannerPorts,
): Promise<SegmentOutcome> {
  return new SegmentRun(event, config, ports).run();
}

type Progress = Pick<
  SegmentCheckpoint,
  'currentSegment' | 'position' | 'itemsScanned' | 'recordsPut' | 'bytesPut'
>;

class SegmentRun {
  private readonly owner: string;
  private scan: ScanRecord | null = null;
  /**
   * The checkpoint this invocation continues from, then the last one it wrote; undefined until
   * it has checked that it may run.
   */
  private saved: SegmentCheckpoint | undefined;
  /**
   * The checkpoint as this invocation found it, until its first write claims the chain: the
   * claim holds only if nobody wrote in between. Null when there was none.
   */
  private found: SegmentCheckpoint | null = null;
  private claimed = false;
  /** A cadence checkpoint was tried: the claim is no longer hurried (a throttled one waits its turn). */
  private claimTried = false;
  /** Where the invocation started: a write further than this moves the chain on. */
  private claimedAt: Progress | undefined;
  private progress: Progress = {
    currentSegment: 0,
    position: null,
    itemsScanned: 0,
    recordsPut: 0,
    bytesPut: 0,
  };
  /** Pages completed (read and accepted by Kinesis) in this invocation. */
  private pages = 0;
  /** The progress moved past part of a page the deadline cut short. */
  private advanced = false;
  private lastDeadline: DeadlineError | undefined;
  /** When this invocation started, and when its first page's write started. */
  private readonly startedAt: number;
  private firstWriteAt: number | undefined;
  /** The read budget cannot pay for another page before the hand-off. */
  private readsExhausted = false;
  private checkpointIntervalMs: number;
  /** The gap to the next cadence checkpoint while it is shorter than the interval (see `firstCheckpointGapMs`). */
  private rampMs = Number.POSITIVE_INFINITY;
  private lastCheckpointAt: number;
  /** This chain's turns in the scan's SSM write budget; set once it may run. */
  private turns = new WriteTurns({ startedAt: 0, chain: 0, chains: 1, writesPerSecond: undefined });
  /** When this chain last wrote (its checkpoint's heartbeat); null before its first write. */
  private lastWriteAt: number | null = null;
  /** A cadence checkpoint being written while the next page is. */
  private pendingCheckpoint: Promise<void> | undefined;
  /** The scan's chains that still write, this one included, as their checkpoints said at its last read. */
  private chainsRunning = 1;
  /** The other chains whose checkpoints ride along with this chain's reads (see `peersOf`). */
  private peers: readonly number[] = [];
  /** This invocation's pace on the stream and its read budget, once it scans. */
  private limits: { readonly pace: AdaptiveRate; readonly reads: RateLimiter } | undefined;
  /** When the peers' checkpoints were last read (with a checkpoint or on their own), and a read of them under way. */
  private peersReadAt = Number.NEGATIVE_INFINITY;
  private peerRead: Promise<void> | undefined;

  constructor(
    private readonly event: SegmentEvent,
    private readonly config: SegmentRunConfig,
    private readonly ports: ScannerPorts,
  ) {
    this.owner = ports.ids.newOwnerToken();
    this.startedAt = ports.clock.now();
    this.checkpointIntervalMs = config.checkpointIntervalMs;
    this.lastCheckpointAt = ports.clock.now();
  }

  async run(): Promise<SegmentOutcome> {
    try {
      const refusal = await this.claim();
      if (refusal !== undefined) return stale(refusal);
      if (this.event.relaunch === true) await this.countRelaunch();
      return await this.scanPages();
    } catch (error) {
      // No checkpoint write may land after this invocation ended: a late one would supersede
      // Lambda's retry of it.
      await this.pendingCheckpoint?.catch(() => {});
      if (error instanceof SupersededError) return stale(error.message);
      if (error instanceof StopRequestedError) {
        await settleStoppingScan(this.event.scanId, this.holder(), this.config, this.ports);
        return { kind: 'stopped', itemsScanned: this.progress.itemsScanned };
      }
      if (!(error instanceof FatalScanError)) throw error;
      return await this.fail(error);
    }
  }

  /**
   * Checks that this invocation may run. It writes nothing: its first checkpoint claims the
   * chain, so an invocation costs no SSM write of its own beyond its share of the budget.
   */
  private async claim(): Promise<string | undefined> {
    const { store, clock, continuation } = this.ports;
    const { event } = this;
    // One GetParameters call for all: SSM reads are throttled per call. The scan's number of
    // chains is not known yet: the first ones that can be are read along.
    const peers = peersOf(event.segment, Math.min(event.totalSegments, PEERS_PER_READ + 1));
    const {
      scan,
      checkpoint: found,
      peers: peerCheckpoints,
    } = await store.loadScanAndSegment(event.segment, peers);
    this.scan = scan;
    if (scan === null || scan.scanId !== event.scanId) return 'the scan is no longer the current one';
    if (!isActive(scan.state)) return `the scan is ${scan.state}`;
    this.chainsRunning = chainsRunning(scan, peers, peerCheckpoints);
    this.peers = peersOf(event.segment, scan.chains);
    // A LastEvaluatedKey is only valid with the Segment and TotalSegments that produced it.
    if (event.totalSegments !== scan.totalSegments) {
      return `the event has totalSegments ${event.totalSegments}, the scan ${scan.totalSegments}`;
    }

    const existing = found !== null && found.scanId === event.scanId ? found : null;
    if (existing !== null) {
      if (existing.state === SegmentState.done) {
        // A crash between finishing the segment and completing the scan is repaired here, and a
        // completion left to this fresh invocation is done (or a stop settles).
        const after = { after: event.segment };
        if (!(await completeScanIfDone(scan, this.holder(), this.config, this.ports, after))) {
          await settleStoppingScan(scan.scanId, this.holder(), this.config, this.ports);
        }
        return 'the segment is already done';
      }
      // A stopped or failed segment continues only with a resume's newer generation.
      const ended = existing.state === SegmentState.stopped || existing.state === SegmentState.failed;
      if (ended && event.generation <= existing.generation) return `the segment is ${existing.state}`;
      if (existing.generation > event.generation) {
        if (existing.generation === event.generation + 1 && existing.owner === null) {
          // A hand-off was recorded but no invocation claimed it yet: it may be lost, so send it
          // again. A duplicate converges through the claim.
          await continuation.continueSegment({
            ...event,
            generation: existing.generation,
            ...(existing.handedOffBy === null ? {} : { from: existing.handedOffBy }),
          });
          return `re-sent the unclaimed hand-off to generation ${existing.generation}`;
        }
        return `generation ${event.generation} is older than ${existing.generation}`;
      }
      if (
        event.from !== undefined &&
        existing.generation === event.generation &&
        existing.handedOffBy !== null &&
        existing.handedOffBy !== event.from
      ) {
        // Two copies of the chain handed off together; the other's hand-off was written last.
        return `the hand-off to generation ${event.generation} came from another invocation`;
      }
    }

    const base = existing ?? firstCheckpoint(scan, event.segment, event.generation, clock.now());
    if (scan.state === ScanState.stopping) {
      // Stopped before it started: record where it stands so the stop can settle.
      await this.writeSegment({ ...base, state: SegmentState.stopped, owner: null, updatedAt: clock.now() });
      await settleStoppingScan(scan.scanId, this.holder(), this.config, this.ports);
      return 'the scan is stopping';
    }
    this.found = existing;
    this.saved = {
      ...base,
      generation: event.generation,
      owner: this.owner,
      state: SegmentState.running,
      stalls: base.state === SegmentState.running ? base.stalls : 0,
      error: null,
    };
    this.progress = pickProgress(this.saved);
    this.claimedAt = this.progress;
    // The chain writes only in its turns, carried across invocations by its heartbeat, so the
    // chains launched together do not all write at once.
    this.turns = new WriteTurns({
      startedAt: scan.startedAt,
      chain: event.segment,
      chains: scan.chains,
      writesPerSecond: this.config.checkpointWritesPerSecond,
    });
    this.lastWriteAt = existing?.updatedAt ?? null;
    return undefined;
  }

  private async scanPages(): Promise<SegmentOutcome> {
    const { clock, reader, sink, metrics } = this.ports;
    const { event, config } = this;
    const scan = this.requireScan();
    const context: RecordContext = {
      tableName: scan.tableName,
      region: config.region,
      keyAttributes: scan.keyAttributes,
      scanId: scan.scanId,
      segment: event.segment,
      format: scan.options.recordFormat,
    };
    // SSM takes about 3 PutParameter calls a second per account: the chains share a budget.
    this.checkpointIntervalMs = Math.max(this.checkpointIntervalMs, this.turns.cycleMs);
    // A chain with no checkpoint yet in this scan (its first invocation, or a relaunch of a lost one).
    if (this.found === null) this.rampMs = Math.max(ChainPolicy.firstCheckpointGapMs, this.turns.cycleMs);
    // Every chain starts writing at its share of the stream's shards and adapts to throttling.
    // maxItemsPerSecond applies per request, so the records of a page go out evenly.
    const shares = this.shares();
    const pace = new AdaptiveRate(clock, shares);
    const readLimit = new RateLimiter(clock, shares.readUnits);
    this.limits = { pace, reads: readLimit };
    const handOffAt = this.handOffAt();
    // Until a page says otherwise, an item costs a read unit (a strongly consistent read of 4 KB),
    // and its record the stream time of the chain's average record so far.
    let readUnitsPerItem = 1;
    let unitsPerRecord = shardSeconds(
      this.progress.recordsPut > 0 ? this.progress.bytesPut / this.progress.recordsPut : 0,
    );
    let recordSizeKnown = this.progress.recordsPut > 0;
    const writeDeadline = config.deadline - config.handoffMs / 2;
    // A page holds at most ChainPolicy.pageSeconds of what the chain may write or read, and at
    // most half the invocation's time to write, so a slow chain (a small share of the stream, a
    // rate limit) or a short invocation still finishes pages inside an invocation.
    const pageSeconds = Math.min(ChainPolicy.pageSeconds, Math.max(0, writeDeadline - this.startedAt) / 2000);
    const pageLimit = (): number | undefined => {
      const recordsPerSecond = Math.min(pace.recordsPerSecond, pace.pace / unitsPerRecord);
      const itemsPerSecond = readLimit.unitsPerSecond / Math.max(readUnitsPerItem, 0.01);
      const paced = pageSeconds * Math.min(recordsPerSecond, itemsPerSecond);
      const configured = scan.options.pageSize ?? config.pageSize;
      // NaN: no time and no pace (an unpaced stream with a hand-off margin over the timeout).
      if (Number.isNaN(paced) || paced >= ChainPolicy.unpacedPageItems) return configured;
      return Math.max(1, Math.floor(Math.min(configured ?? paced, paced)));
    };
    const read = (segment: number, exclusiveStartKey: AttributeMap | null): Promise<Page> => {
      const page = (async () => {
        const result = await reader.readPage({
          segment,
          totalSegments: event.totalSegments,
          exclusiveStartKey,
          limit: pageLimit(),
          options: scan.options,
        });
        if (result.scannedCount > 0) readUnitsPerItem = result.readUnits / result.scannedCount;
        // Spend the page's read units; the next read waits while the budget is in debt. When
        // the wait would pass the hand-off, this page is the invocation's last.
        if (!(await readLimit.take(result.readUnits, handOffAt))) this.readsExhausted = true;
        return result;
      })();
      // A prefetched page may be abandoned (hand-off, stop); its failure then matters to no one.
      page.catch(() => {});
      return page;
    };

    const writes: PageWrite[] = [];
    try {
      let segment = this.progress.currentSegment;
      let next = read(segment, this.progress.position);
      for (;;) {
        // At least one page per invocation, so a chain always progresses.
        if (this.pages > 0 && clock.now() >= handOffAt) {
          await this.drain(writes);
          return await this.handOff();
        }
        const page = await next;
        const scannedAt = clock.now();
        // Read the following page (of this segment, or the first of the chain's next one) while
        // this one is built and written: reading has no side effects, and the checkpoint still
        // moves only after this page's records were accepted. Its size follows the chain's
        // record size, so until that is known the read waits for this page's records.
        const pageSegment = segment;
        const following = page.lastEvaluatedKey === null ? nextSegmentOf(scan, segment) : segment;
        const last = following === null;
        const readNext = () => {
          if (following === null || this.readsExhausted) return;
          segment = following;
          next = read(segment, page.lastEvaluatedKey);
        };
        const sizeWasKnown = recordSizeKnown;
        if (sizeWasKnown) readNext();
        // Records carry the segment they were read from, not the chain's first.
        const pageContext = pageSegment === context.segment ? context : { ...context, segment: pageSegment };
        const records = page.items.map((item) => buildRecord(item, pageContext, scannedAt));
        const units = records.reduce((sum, r) => sum + shardSeconds(recordBytes(r)), 0);
        if (records.length > 0) {
          // Small records cost a shard's thousandth of a second exactly, sums' rounding aside.
          unitsPerRecord = Math.max(shardSeconds(0), units / records.length - 1e-12);
          recordSizeKnown = true;
        }
        if (!sizeWasKnown) readNext();
        // A page cut short by the deadline resumes after its accepted records when it is
        // resumable; one that is not, and would not be written before the write deadline at the
        // chain's pace, is left to the next invocation instead of being sent and thrown away.
        if (!resumable(page) && this.pages > 0 && clock.now() + (1000 * units) / pace.pace >= writeDeadline) {
          await this.drain(writes);
          return await this.handOff();
        }
        metrics.add(ScannerMetrics.itemsScanned, page.scannedCount);
        // A checkpoint that found this invocation superseded (or the scan stopping) ends it
        // here, before it writes another page.
        await this.pendingCheckpoint;
        this.firstWriteAt ??= clock.now();
        const write =
          records.length === 0
            ? Promise.resolve(NOTHING_PUT)
            : // Leave half the hand-off margin for the checkpoint and the re-invoke. The first
              // page goes at once, whatever the pace: each invocation moves the chain on.
              sink.putRecords(records, writeDeadline, pace, {
                atOnce: this.pages === 0 && writes.length === 0,
                sendBy: writeDeadline - config.handoffMs / 4,
              });
        write.catch(() => {});
        writes.push({ segment: pageSegment, page, write });
        // The first page is written alone, so a stream that refuses an invocation's writes
        // costs it one page, not two. Then the next page's writes start while this one's last
        // batches are answered.
        const inFlight = this.pages === 0 ? 1 : ChainPolicy.pagesInFlight;
        while (writes.length >= inFlight || ((last || this.readsExhausted) && writes.length > 0)) {
          if (!(await this.completeOldest(writes))) return await this.handOff();
        }
        if (last) return await this.finish();
        if (this.readsExhausted) return await this.handOff();
      }
    } finally {
      // No call outlives the invocation: an error path waits for the writes still in flight.
      await Promise.allSettled([...writes.map((w) => w.write), this.peerRead]);
    }
  }

  /**
   * Waits for the oldest page's write and moves the progress past it, checkpointing on the
   * cadence. False when the write ran out of time: the checkpoint stays before that page, and
   * the pages after it are abandoned (written again by the next generation).
   */
  private async completeOldest(writes: PageWrite[]): Promise<boolean> {
    const { clock } = this.ports;
    const oldest = writes.shift();
    if (oldest === undefined) return true;
    let put: PutSummary;
    try {
      put = await oldest.write;
    } catch (error) {
      // The pages after it are abandoned, but what Kinesis accepted of them still counts.
      const rest = await Promise.allSettled(writes.map((w) => w.write));
      writes.length = 0;
      if (!(error instanceof DeadlineError)) throw error;
      this.countPut(error.partial);
      for (const outcome of rest) {
        if (outcome.status === 'fulfilled') this.countPut(outcome.value);
        else if (outcome.reason instanceof DeadlineError) this.countPut(outcome.reason.partial);
      }
      this.lastDeadline = error;
      this.advancePast(oldest, error.acceptedPrefix);
      return false;
    }
    const { page } = oldest;
    // A segment's last page moves the chain to the start of its next segment.
    const nextSegment =
      page.lastEvaluatedKey === null ? nextSegmentOf(this.requireScan(), oldest.segment) : null;
    this.progress = {
      currentSegment: nextSegment ?? oldest.segment,
      position: page.lastEvaluatedKey,
      itemsScanned: this.progress.itemsScanned + page.scannedCount,
      recordsPut: this.progress.recordsPut + put.records,
      bytesPut: this.progress.bytesPut + put.bytes,
    };
    this.pages++;
    this.countPut(put);
    const now = clock.now();
    // The first write claims the chain: as soon as the budget allows, so that a duplicate
    // invocation is found out early; then on the cadence.
    const due =
      (!this.claimTried || now - this.lastCheckpointAt >= Math.min(this.rampMs, this.checkpointIntervalMs)) &&
      this.turns.isOpen(now, this.lastWriteAt) &&
      // The hand-off (or DONE) needs a turn too: no cadence write takes the last one.
      this.turns.lastTurnBy(this.latestWrite(), now) !== null;
    const chainDone = page.lastEvaluatedKey === null && nextSegment === null;
    if (!chainDone && due) {
      // Runs while the next page is written; awaited before any further page is sent.
      await this.pendingCheckpoint;
      this.pendingCheckpoint = this.checkpoint();
      this.pendingCheckpoint.catch(() => {});
    } else if (!chainDone) {
      this.readPeersIfDue(now);
    }
    return true;
  }

  /**
   * Moves the progress past the leading records of a page the deadline cut short, when the page
   * is resumable: the next invocation scans on from the key of the last of them instead of
   * sending them again. Only the records after the first one Kinesis had not accepted by then
   * (and the pages after it) are sent again.
   */
  private advancePast(write: PageWrite, prefix: { readonly records: number; readonly bytes: number }): void {
    const { page } = write;
    const last = page.items[prefix.records - 1];
    if (last === undefined || !resumable(page)) return;
    this.progress = {
      currentSegment: write.segment,
      position: fromJsonMap(pickKeys(last, this.requireScan().keyAttributes)),
      itemsScanned: this.progress.itemsScanned + prefix.records,
      recordsPut: this.progress.recordsPut + prefix.records,
      bytesPut: this.progress.bytesPut + prefix.bytes,
    };
    this.advanced = true;
  }

  /** Waits for every page in flight, moving the progress past each one accepted. */
  private async drain(writes: PageWrite[]): Promise<boolean> {
    while (writes.length > 0) if (!(await this.completeOldest(writes))) return false;
    return true;
  }

  /**
   * A cadence checkpoint. When SSM throttles it (PutParameter allows about 3 writes per second
   * per account, shared by every segment) the interval doubles, up to a minute: the checkpoint
   * stays behind, which only widens what a crash would repeat.
   */
  private async checkpoint(): Promise<void> {
    const { clock, log } = this.ports;
    this.lastCheckpointAt = clock.now();
    const afterClaim = this.claimTried;
    this.claimTried = true;
    try {
      const before = this.lastWriteAt;
      await this.save({ ...this.requireSaved(), ...this.progress, stalls: 0 }, { cadence: true });
      // The claim starts the ramp: the gap doubles after each cadence checkpoint written.
      if (afterClaim && this.lastWriteAt !== before) this.rampMs *= 2;
    } catch (error) {
      if (!isThrottling(error)) throw error;
      this.rampMs = Number.POSITIVE_INFINITY;
      // Longer, never shorter than the interval the segments' shared budget already set.
      this.checkpointIntervalMs = Math.max(
        this.checkpointIntervalMs,
        Math.min(Math.max(2 * this.checkpointIntervalMs, 1000), ChainPolicy.maxCheckpointIntervalMs),
      );
      log.warn('checkpoint throttled; writing less often', {
        checkpointIntervalMs: this.checkpointIntervalMs,
      });
    }
  }

  private async handOff(): Promise<SegmentOutcome> {
    await this.pendingCheckpoint;
    const saved = this.requireSaved();
    const budget = this.config.deadline - this.config.handoffMs / 2 - this.startedAt;
    const hadTime =
      this.firstWriteAt !== undefined &&
      this.config.deadline - this.config.handoffMs / 2 - this.firstWriteAt >=
        ChainPolicy.stallWriteShare * budget;
    // Refused by Kinesis (attempts made): a write the chain's own pace held back is not evidence.
    const persistent =
      this.lastDeadline !== undefined &&
      this.lastDeadline.attempts > 0 &&
      (this.lastDeadline.attempts >= ChainPolicy.stallAttempts || hadTime);
    // Every invocation without a page counts: a scan fails after a few whose write Kinesis refused
    // throughout, or after many for any reason (nothing retries forever). A first page always
    // goes (at once when the chain's pace leaves no time), so its own pacing cannot stall a chain.
    const stalls = this.pages > 0 || this.advanced ? 0 : saved.stalls + 1;
    if ((persistent && stalls >= ChainPolicy.maxStalledHandoffs) || stalls >= ChainPolicy.maxIdleHandoffs) {
      throw new FatalScanError(
        `No page of segment ${this.event.segment} could be written in ${stalls} consecutive invocations: ${this.lastDeadline?.message ?? 'reading and pacing left no time for a page'}`,
      );
    }
    const generation = this.event.generation + 1;
    await this.save({
      ...saved,
      ...this.progress,
      generation,
      owner: null,
      handedOffBy: this.owner,
      handoffs: saved.handoffs + 1,
      stalls,
      updatedAt: this.ports.clock.now(),
    });
    // The event names this hand-off: of two copies of a chain that hand off together, only the
    // successor of the one whose write landed last goes on.
    await this.ports.continuation.continueSegment({ ...this.event, generation, from: this.owner });
    this.ports.metrics.add(ScannerMetrics.handOffs, 1);
    this.ports.log.info('handed off', {
      nextGeneration: generation,
      itemsScanned: this.progress.itemsScanned,
      stalls,
    });
    return { kind: 'handed-off', generation, itemsScanned: this.progress.itemsScanned };
  }

  private async finish(): Promise<SegmentOutcome> {
    const { clock, log } = this.ports;
    await this.pendingCheckpoint;
    await this.save({
      ...this.requireSaved(),
      ...this.progress,
      state: SegmentState.done,
      stalls: 0,
      updatedAt: clock.now(),
    });
    if (clock.now() >= this.config.deadline - this.config.handoffMs / 2) {
      // Completing publishes an event and then records it; started this close to the deadline
      // the invocation could be stopped in between. A fresh invocation of this event finds the
      // segment done and completes the scan with a whole budget.
      await this.ports.continuation.continueSegment(this.event);
      log.info('segment done; completion left to a fresh invocation', {
        itemsScanned: this.progress.itemsScanned,
      });
      return { kind: 'done', scanCompleted: false, itemsScanned: this.progress.itemsScanned };
    }
    const scanCompleted = await completeScanIfDone(
      this.requireScan(),
      this.holder(),
      this.config,
      this.ports,
      { after: this.event.segment, done: this.saved },
    );
    if (!scanCompleted) await settleStoppingScan(this.event.scanId, this.holder(), this.config, this.ports);
    log.info('segment done', { itemsScanned: this.progress.itemsScanned, scanCompleted });
    return { kind: 'done', scanCompleted, itemsScanned: this.progress.itemsScanned };
  }

  /**
   * A relaunched chain records the relaunch, in its turn, before it scans: invocations that die
   * before their first checkpoint (out of memory on a page, a hang past the timeout) are counted
   * too. Moving the chain on resets the count; past the limit the chain and the scan fail.
   */
  private async countRelaunch(): Promise<void> {
    const saved = this.requireSaved();
    if (saved.relaunches >= ChainPolicy.maxRelaunches) {
      throw new FatalScanError(
        `Chain ${saved.segment} (segment ${saved.currentSegment}) was relaunched ${saved.relaunches} times without moving on: each invocation ended before its next checkpoint (out of memory, the function's timeout, or a call that hangs). See the function's logs and its failed-invocations queue, fix the cause, then resume.`,
      );
    }
    await this.save({ ...saved, relaunches: saved.relaunches + 1 });
  }

  private async fail(error: FatalScanError): Promise<SegmentOutcome> {
    const { clock, log } = this.ports;
    log.error('segment failed', { error: error.message });
    // A done segment stays done (its items were all written); only the scan fails.
    if (this.saved !== undefined && this.saved.state !== SegmentState.done) {
      const failed = {
        ...this.saved,
        state: SegmentState.failed,
        error: error.message,
        // A resume after the cause is fixed gets the whole count of relaunches again.
        relaunches: 0,
        updatedAt: clock.now(),
      };
      await this.save(failed).catch((cause: unknown) =>
        log.warn('could not mark the segment failed', { cause: String(cause) }),
      );
    }
    await failScan(this.event.scanId, error.message, this.ports).catch((cause: unknown) => {
      // Marking failed needs the root parameter; if that is what broke, let Lambda see the error.
      log.error('could not mark the scan failed', { cause: String(cause) });
      throw error;
    });
    return { kind: 'failed', error: error.message };
  }

  /**
   * Writes a checkpoint if the scan still runs and this invocation still owns the segment. When
   * the scan is stopping, a running checkpoint is written as STOPPED and the invocation ends.
   */
  private async save(next: SegmentCheckpoint, options: { readonly cadence?: boolean } = {}): Promise<void> {
    const { store, clock } = this.ports;
    const { event } = this;
    // A cadence checkpoint goes only while its turn is open (it never holds pages back waiting
    // for the next); a hand-off, DONE or FAILED waits for its turn.
    if (options.cadence === true && !this.turns.isOpen(clock.now(), this.lastWriteAt)) return;
    await this.awaitTurn();
    const { peers } = this;
    const {
      scan,
      checkpoint: current,
      peers: peerCheckpoints,
    } = await store.loadScanAndSegment(event.segment, peers);
    const active = isActive(scan?.state);
    if (scan?.scanId !== event.scanId || !active) {
      throw new SupersededError(
        `the scan is ${scan?.scanId === event.scanId ? scan.state : 'no longer the current one'}`,
      );
    }
    if (!this.stillOwns(current)) throw new SupersededError(`generation ${event.generation} was superseded`);
    this.notePeers(scan, peers, peerCheckpoints);
    const stopping = scan.state === ScanState.stopping;
    // The heartbeat is the moment of the write: the next invocation takes its turns after it.
    const written: SegmentCheckpoint = {
      ...(stopping && next.state === SegmentState.running
        ? { ...next, state: SegmentState.stopped, owner: null }
        : next),
      updatedAt: clock.now(),
      // Moving the chain on ends a run of relaunches that died.
      relaunches: this.claimedAt === undefined || movedOn(this.claimedAt, next) ? 0 : next.relaunches,
    };
    await this.writeSegment(written);
    this.saved = written;
    this.claimed = true;
    this.lastWriteAt = written.updatedAt;
    if (written.state === SegmentState.stopped) {
      throw new StopRequestedError(`the scan is stopping; segment ${event.segment} saved its checkpoint`);
    }
  }

  /**
   * Reads the peers' checkpoints between this chain's own, when they fit in one read and some
   * other chain still runs, at most every `peerReadMsPerChain` × chains. Only the end of the
   * invocation waits for it: it only shares the pace out anew, in one attempt (a throttled or
   * failed read is skipped).
   */
  private readPeersIfDue(now: number): void {
    const scan = this.requireScan();
    const { peers } = this;
    const due = this.peersReadAt + ChainPolicy.peerReadMsPerChain * scan.chains;
    if (peers.length === 0 || this.chainsRunning === 1 || this.peerRead !== undefined || now < due) return;
    this.peersReadAt = now;
    this.peerRead = this.ports.store
      .loadScanAndSegment(this.event.segment, peers, { hint: true })
      .then(
        ({ scan: current, peers: checkpoints }) => {
          if (current?.scanId === scan.scanId) this.notePeers(current, peers, checkpoints);
        },
        () => {},
      )
      .finally(() => {
        this.peerRead = undefined;
      });
  }

  /** Chains that finished leave their share of the stream and of the limits to the others. */
  private notePeers(
    scan: ScanRecord,
    peers: readonly number[],
    checkpoints: readonly (SegmentCheckpoint | null)[],
  ): void {
    this.peersReadAt = this.ports.clock.now();
    const before = this.chainsRunning;
    this.chainsRunning = Math.min(before, chainsRunning(scan, peers, checkpoints));
    if (this.limits === undefined || this.chainsRunning === before) return;
    const shares = this.shares();
    this.limits.pace.reshare(before / this.chainsRunning, shares);
    this.limits.reads.unitsPerSecond = shares.readUnits;
  }

  /**
   * This chain's share of the stream's shards and of the scan's limits: the whole divided among
   * the chains that still run.
   */
  private shares(): { initial: number; maxRecordsPerSecond: number; readUnits: number } {
    const { options, streamShards } = this.requireScan();
    const share = (total: number | null) =>
      total === null ? Number.POSITIVE_INFINITY : total / this.chainsRunning;
    return {
      initial: share(streamShards),
      maxRecordsPerSecond: share(options.maxItemsPerSecond),
      readUnits: share(options.maxReadUnitsPerSecond),
    };
  }

  /** The last moment at which a write and a re-invoke still fit in the invocation. */
  private latestWrite(): number {
    return this.config.deadline - this.config.handoffMs / 2;
  }

  /**
   * When to stop sending pages and hand off: the hand-off margin before the deadline, or earlier,
   * half the margin before the chain's last turn of the write budget in this invocation, so that
   * the hand-off (or the DONE of a chain that finishes first) is written in that turn. Without a
   * turn left (a cycle longer than the invocation), the margin alone, and the hand-off is written
   * outside the budget.
   */
  private handOffAt(): number {
    const byMargin = this.config.deadline - this.config.handoffMs;
    const turn = this.turns.lastTurnBy(this.latestWrite(), this.lastWriteAt);
    return turn === null ? byMargin : Math.min(byMargin, turn - this.config.handoffMs / 2);
  }

  /**
   * Waits for this chain's turn to write (its share of the scan's SSM write budget), but never
   * past the last moment at which a write and a re-invoke still fit in the invocation. Cadence
   * checkpoints are only written once it is their turn; a hand-off, the DONE and FAILED marks
   * wait here.
   */
  private async awaitTurn(): Promise<void> {
    const { clock } = this.ports;
    const now = clock.now();
    const wait = Math.min(this.turns.nextOpening(now, this.lastWriteAt), this.latestWrite()) - now;
    if (wait > 0) await clock.sleep(wait);
  }

  /**
   * True when this invocation may write over `current`. After its first write, only over its
   * own. Before it, over what it found (nobody wrote since), or over an older generation, which
   * its newer event outranks (a relaunch taking over from a chain that was only slow).
   */
  private stillOwns(current: SegmentCheckpoint | null): boolean {
    const { event } = this;
    // The caller read the scan as this one: a checkpoint of another scan is a late write of a
    // scan that was replaced (restarted or completed), never a newer owner, and is overwritten.
    if (current !== null && current.scanId !== event.scanId) return true;
    if (this.claimed) return current?.generation === event.generation && current.owner === this.owner;
    if (current === null) return this.found === null;
    if (current.generation !== event.generation) return current.generation < event.generation;
    return (
      this.found !== null && current.owner === this.found.owner && current.updatedAt === this.found.updatedAt
    );
  }

  private countPut(put: PutSummary): void {
    const { metrics } = this.ports;
    metrics.add(ScannerMetrics.recordsPut, put.records);
    metrics.add(ScannerMetrics.bytesPut, put.bytes);
    metrics.add(ScannerMetrics.recordsThrottled, put.resent);
  }

  private async writeSegment(checkpoint: SegmentCheckpoint): Promise<void> {
    await this.ports.store.saveSegment(checkpoint);
    this.ports.metrics.add(ScannerMetrics.checkpointWrites, 1);
  }

  /** This invocation as a completion claimant: its owner token, unique per invocation. */
  private holder(): string {
    return this.owner;
  }

  private requireScan(): ScanRecord {
    if (this.scan === null) throw new Error('runSegment: the scan was not loaded');
    return this.scan;
  }

  private requireSaved(): SegmentCheckpoint {
    if (this.saved === undefined) throw new Error('runSegment: the segment was not claimed');
    return this.saved;
  }
}

/**
 * A page whose every item read became a record (no filter dropped any): a checkpoint may then
 * stop inside it, at the key of an item, and the count of items scanned stays exact.
 */
function resumable(page: Page): boolean {
  return page.scannedCount === page.items.length;
}

function stale(reason: string): SegmentOutcome {
  return { kind: 'stale', reason };
}

/** True when `next` is further than where the invocation started. */
function movedOn(from: Progress, next: SegmentCheckpoint): boolean {
  return (
    next.state === SegmentState.done ||
    next.currentSegment !== from.currentSegment ||
    next.itemsScanned !== from.itemsScanned ||
    keyText(next.position) !== keyText(from.position)
  );
}

function keyText(key: AttributeMap | null): string {
  return key === null ? '' : encodeKey(key);
}

function pickProgress(cp: SegmentCheckpoint): Progress {
  return {
    currentSegment: cp.currentSegment,
    position: cp.position,
    itemsScanned: cp.itemsScanned,
    recordsPut: cp.recordsPut,
    bytesPut: cp.bytesPut,
  };
}

/**
 * The other chains whose checkpoints ride along with this chain's reads of the scan: all of
 * them when they fit in one read, else none (a chain then assumes all of them run).
 */
function peersOf(segment: number, chains: number): number[] {
  if (chains - 1 > PEERS_PER_READ) return [];
  const peers = Array.from({ length: chains }, (_, chain) => chain).filter((chain) => chain !== segment);
  return peers.length > PEERS_PER_READ ? [] : peers;
}

/**
 * How many of the scan's chains still write, by the checkpoints of `peers` (read with this
 * chain's own): all of them unless every other chain was read along. Only a DONE chain has
 * ended: it never runs again in its scan, while a stopped or failed one may be resumed before its
 * checkpoint says so, and one not yet started, or holding a checkpoint of an earlier scan, is to
 * run. So the count is never below the chains that write.
 */
function chainsRunning(
  scan: ScanRecord,
  peers: readonly number[],
  checkpoints: readonly (SegmentCheckpoint | null)[],
): number {
  const read = peers.flatMap((peer, i) => (peer < scan.chains ? [checkpoints[i] ?? null] : []));
  if (read.length < scan.chains - 1) return scan.chains;
  const done = read.filter((c) => c?.scanId === scan.scanId && c.state === SegmentState.done);
  return scan.chains - done.length;
}
