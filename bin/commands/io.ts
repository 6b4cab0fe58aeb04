/** Where a command writes: stdout for results, stderr for progress and errors. Tests capture both. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** The progress stream; a progress bar is drawn only when it is a terminal. */
  readonly progress: NodeJS.WritableStream & { isTTY?: boolean };
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  progress: process.stderr,
};
