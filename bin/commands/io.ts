/** Where a command writes: stdout for results, stderr for progress and errors. Tests capture both. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** The progress stream; a progress bar is drawn only when it is a terminal. */
  readonly progress: NodeJS.WritableStream & { isTTY?: boolean };
  /** Colour the results (states): stdout is a terminal and NO_COLOR is not set. */
  readonly color: boolean;
  /**
   * Ctrl-C, caught for as long as the command wants to end it its own way (restoring the
   * terminal): the signal aborts on the first interrupt, until `dispose`.
   */
  interrupts(): Interrupts;
}

export interface Interrupts {
  readonly signal: AbortSignal;
  dispose(): void;
}

/** Colour unless NO_COLOR is set (https://no-color.org) or the stream is not a colour terminal. */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  progress: process.stderr,
  color: colorEnabled(process.stdout, process.env),
  interrupts() {
    const controller = new AbortController();
    const abort = () => controller.abort();
    process.once('SIGINT', abort);
    return { signal: controller.signal, dispose: () => process.off('SIGINT', abort) };
  },
};
