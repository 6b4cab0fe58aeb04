/**
 * The turns of one chain in the scan's SSM write budget. SSM takes about 3 PutParameter calls a
 * second per account, and the chains of a scan run in separate invocations that cannot talk to
 * each other, so they share the budget by the clock: time after the scan's start is cut into
 * slots of `1 / writesPerSecond` seconds, taken by the chains in turn (chain c owns slots c,
 * c + chains, c + 2·chains, …). A chain writes only in its own slots, at most once per slot, so
 * the whole scan writes at most `writesPerSecond` a second, whatever the number of chains, with no
 * coordination but the start time they all read from the scan.
 *
 * @example
 * const turns = new WriteTurns({ startedAt, chain: 3, chains: 100, writesPerSecond: 2 });
 * turns.cycleMs; // 50_000: chain 3 may write once every 50 s, in [1.5 s, 2.5 s) after each cycle's start
 */
export class WriteTurns {
  /** Time between two turns of this chain; 0 when the budget is unlimited. */
  readonly cycleMs: number;
  private readonly slotMs: number;
  /** Start of this chain's first slot. */
  private readonly origin: number;

  constructor(options: {
    readonly startedAt: number;
    readonly chain: number;
    readonly chains: number;
    /** Undefined or Infinity: no budget, every moment is a turn. */
    readonly writesPerSecond: number | undefined;
  }) {
    const perSecond = options.writesPerSecond ?? Number.POSITIVE_INFINITY;
    this.slotMs = Number.isFinite(perSecond) ? 1000 / perSecond : 0;
    this.cycleMs = this.slotMs * options.chains;
    this.origin = options.startedAt + options.chain * this.slotMs;
  }

  /** The start of the first of this chain's slots that begins after `lastWriteAt` (or, without one, its first). */
  turnAfter(lastWriteAt: number | null): number {
    if (this.cycleMs === 0) return lastWriteAt ?? Number.NEGATIVE_INFINITY;
    if (lastWriteAt === null || lastWriteAt < this.origin) return this.origin;
    return this.origin + (Math.floor((lastWriteAt - this.origin) / this.cycleMs) + 1) * this.cycleMs;
  }

  /**
   * True when `now` is inside one of this chain's slots at or after its turn. The window is two
   * slots wide, so a chain whose pages take longer than a slot still finds it open often; two
   * neighbours then write at most one after the other, well inside SSM's burst.
   */
  isOpen(now: number, lastWriteAt: number | null): boolean {
    const turn = this.turnAfter(lastWriteAt);
    if (now < turn) return false;
    if (this.cycleMs === 0) return true;
    const slotStart = this.origin + Math.floor((now - this.origin) / this.cycleMs) * this.cycleMs;
    return now - slotStart < 2 * this.slotMs;
  }

  /**
   * The start of this chain's last slot that begins at or before `t` and after its last write's
   * slot: the turn a hand-off planned for `t` can use. Null when there is none (a cycle longer than
   * what is left of the invocation). Without a budget, `t` itself.
   */
  lastTurnBy(t: number, lastWriteAt: number | null): number | null {
    if (this.cycleMs === 0) return t;
    const last = this.origin + Math.floor((t - this.origin) / this.cycleMs) * this.cycleMs;
    return last >= this.turnAfter(lastWriteAt) ? last : null;
  }

  /** When this chain may next write, at or after `now`: now when a turn is open, else the next slot's start. */
  nextOpening(now: number, lastWriteAt: number | null): number {
    if (this.isOpen(now, lastWriteAt)) return now;
    const turn = this.turnAfter(lastWriteAt);
    if (now <= turn) return turn;
    return this.turnAfter(now);
  }
}
