import { ScanState } from '../contract';

/** What moves a recorded scan from one state to another. */
export type LifecycleEvent =
  /** `stop`: each chain stops at its next checkpoint. */
  | 'stop'
  /** Every chain saved its checkpoint while stopping. */
  | 'settle'
  /** `resume`: chains continue from their checkpoints. */
  | 'resume'
  /** Every chain is done. */
  | 'complete'
  /** A non-retryable error. */
  | 'fail';

type RecordedState = Exclude<ScanState, 'IDLE'>;

/**
 * Every legal move of a scan, in one table: state, then event, then the state it leads to. A move
 * that is not here is refused. COMPLETED has none: nothing turns a completed scan into anything
 * else (a new scan replaces it).
 */
export const LIFECYCLE: Readonly<
  Record<RecordedState, Readonly<Partial<Record<LifecycleEvent, RecordedState>>>>
> = {
  RUNNING: { stop: ScanState.stopping, complete: ScanState.completed, fail: ScanState.failed },
  STOPPING: {
    stop: ScanState.stopping,
    settle: ScanState.stopped,
    resume: ScanState.running,
    complete: ScanState.completed,
    fail: ScanState.failed,
  },
  STOPPED: { stop: ScanState.stopped, resume: ScanState.running },
  COMPLETED: {},
  FAILED: { resume: ScanState.running },
};

/**
 * What a `start` does with the current scan: report it (a start is safe to repeat), refuse with
 * how to go on, or replace it with a new scan. `restart: true` replaces any of them.
 */
export const ON_START: Readonly<Record<RecordedState, 'report' | 'refuse' | 'replace'>> = {
  RUNNING: 'report',
  STOPPING: 'refuse',
  STOPPED: 'refuse',
  COMPLETED: 'replace',
  FAILED: 'replace',
};

/** The state `event` leads to from `state`, or null when the move is not legal. */
export function transition(state: ScanState, event: LifecycleEvent): RecordedState | null {
  if (state === ScanState.idle) return null;
  return LIFECYCLE[state][event] ?? null;
}

/** True while chains may be at work: running, or stopping at their next checkpoints. */
export function isActive(state: ScanState | undefined): boolean {
  return state === ScanState.running || state === ScanState.stopping;
}
