/** Exit codes of `ddbscan`, so scripts can tell failure kinds apart. */
export const ExitCode = {
  ok: 0,
  /** Anything unexpected. */
  failure: 1,
  /** Bad arguments, or the scanner rejected the request (validation, wrong state). */
  invalidInput: 2,
  /** The scanner could not be reached: function or stack not found, access denied, no credentials, network. */
  unreachable: 3,
  /** The scan ended FAILED. */
  scanFailed: 4,
  /** The scan ended STOPPED. */
  scanStopped: 5,
  /** Watching: every unfinished segment stalled (no chain alive); `resume` relaunches them. */
  scanStalled: 6,
  /** Watching: a consumer ended with records that failed every retry (`ddbscan status` counts them). */
  recordsFailed: 7,
  /** Watching: a consumer made no progress for 10 minutes while records remained. */
  consumerStalled: 8,
  /** Watching: Ctrl-C (128 + SIGINT, as shells report it); the scan goes on. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one line, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
