/**
 * The scanner's error family. Adapters translate SDK errors into these (keeping the SDK
 * error as `cause`), so the core decides on retry, hand-off or failure by kind alone.
 */
export class ScannerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input: a malformed event or configuration. Nothing was written. */
export class ValidationError extends ScannerError {
  constructor(
    readonly field: string,
    readonly expected: string,
    received: unknown,
  ) {
    super(`Invalid ${field}: expected ${expected}, received ${describe(received)}.`);
  }
}

/** A request that does not fit the scan's current state (stop with no scan running, …). Nothing was written. */
export class ConflictError extends ScannerError {}

/** An error no retry can fix (access denied, table or stream missing, record too large). */
export class FatalScanError extends ScannerError {}

/**
 * A parameter under the scanner's path that this version cannot read: written by a newer
 * version (after a rollback) or by hand. Its name is in the message and in `parameter`.
 */
export class UnreadableParameterError extends FatalScanError {
  constructor(
    readonly parameter: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `The parameter ${parameter} cannot be read (${reason}): it was written by another version of the scanner or by hand. Delete it, or start over (ddbscan start --restart, or {"action":"start","restart":true}), which replaces it.`,
      options,
    );
  }
}

/** A retryable error that outlasted its retries; Lambda's async retry takes over. */
export class TransientError extends ScannerError {}

/**
 * A call that may or may not have taken effect (no answer, or a server error), and that would
 * repeat its effect if sent again: the caller records the doubt rather than resending.
 */
export class UncertainOutcomeError extends ScannerError {}

/** A step could not finish inside the invocation's time budget; the chain hands off instead. */
export class DeadlineError extends ScannerError {
  constructor(
    message: string,
    /** Attempts the failing write made before time ran out. */
    readonly attempts: number,
    /** What the write got accepted before time ran out, for the metrics. */
    readonly partial: { readonly records: number; readonly bytes: number; readonly resent: number } = {
      records: 0,
      bytes: 0,
      resent: 0,
    },
    /**
     * The leading records, in the order the write was given them, that were all accepted: a
     * checkpoint may move past them, so they are not sent again.
     */
    readonly acceptedPrefix: { readonly records: number; readonly bytes: number } = { records: 0, bytes: 0 },
  ) {
    super(message);
  }
}

/** Another invocation owns the segment now; this one must exit without writing. */
export class SupersededError extends ScannerError {}

/** The scan is stopping: the segment saved its checkpoint as STOPPED and this invocation ends. */
export class StopRequestedError extends ScannerError {}

/** Throttling error names of SSM, DynamoDB, Kinesis and Lambda. */
const THROTTLING = new Set([
  'ThrottlingException',
  'TooManyUpdates',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'LimitExceededException',
]);

/** True for a TransientError caused by throttling: the remedy is to slow down, not to fail. */
export function isThrottling(error: unknown): boolean {
  if (!(error instanceof TransientError)) return false;
  const cause = error.cause;
  return cause instanceof Error && THROTTLING.has(cause.name);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 80)}…` : json;
}
