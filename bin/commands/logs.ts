import { setTimeout as sleep } from 'node:timers/promises';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import type { StatusResponse } from '../../lambda/contract';
import { CliError, ExitCode } from './cli-error';
import type { Io } from './io';
import type { ScannerApi } from './scanner-api';

export interface LogsOptions {
  /** The scan whose lines to show. @default the current (or last) scan */
  readonly scan?: string;
  /** Every line of the function, whatever the scan. */
  readonly all: boolean;
  /** How far back, e.g. 30m, 2h, 1d. */
  readonly since: string;
  readonly follow: boolean;
  /** Seconds between polls with `--follow`. */
  readonly interval: number;
}

export interface LogEventLine {
  readonly eventId?: string;
  readonly timestamp?: number;
  readonly message?: string;
}

/** Where `ddbscan logs` reads: FilterLogEvents. A port, so tests can fake it. */
export interface LogReader {
  /** One page; `null` when the log group does not exist yet (the function has not run). */
  filter(
    input: {
      readonly logGroupName: string;
      readonly startTime: number;
      readonly filterPattern?: string;
      readonly nextToken?: string;
    },
    signal?: AbortSignal,
  ): Promise<{ readonly events?: readonly LogEventLine[]; readonly nextToken?: string } | null>;
}

/** FilterLogEvents through the SDK; the endpoint comes from AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, as the local stack sets it. */
export function cloudWatchLogReader(region: string | undefined): LogReader {
  const client = new CloudWatchLogsClient({ region });
  return {
    async filter(input, signal) {
      try {
        return await client.send(new FilterLogEventsCommand(input), { abortSignal: signal });
      } catch (error) {
        if (signal?.aborted) throw error;
        const name = error instanceof Error ? error.name : 'Error';
        if (name === 'ResourceNotFoundException') return null;
        const message = error instanceof Error ? error.message : String(error);
        throw new CliError(
          `could not read the log group ${input.logGroupName}: ${name}: ${message}`,
          ExitCode.unreachable,
          {
            cause: error,
          },
        );
      }
    },
  };
}

/**
 * Lines arrive late by up to this much (each invocation writes its own stream): every poll of
 * `--follow` looks back this far, and shows each line once.
 */
const FOLLOW_WINDOW_MS = 30_000;

/**
 * `ddbscan logs`: the function's log lines of the current scan (or `--scan`, or `--all`), from
 * `--since` ago; with `--follow`, new lines as they come until Ctrl-C (exit 130).
 */
export async function runLogsCommand(
  api: ScannerApi,
  reader: LogReader,
  options: LogsOptions & { readonly json?: boolean },
  io: Io,
): Promise<ExitCode> {
  const logGroupName = await api.logGroup();
  const scanId = options.all
    ? undefined
    : (options.scan ?? ((await api.call({ action: 'status' })) as StatusResponse).scanId);
  if (!options.all && scanId === null) {
    io.err('No scan has run yet: `ddbscan logs --all` shows every line of the function.');
    return ExitCode.ok;
  }
  const filterPattern = scanId === undefined ? undefined : `"${scanId}"`;
  let startTime = Date.now() - sinceMs(options.since);
  /** Lines shown, by id, with their time: forgotten once they are behind the window. */
  const shown = new Map<string, number>();
  let found = false;
  const interrupts = io.interrupts();
  const { signal } = interrupts;
  try {
    for (;;) {
      let newest = startTime;
      let nextToken: string | undefined;
      do {
        signal.throwIfAborted();
        // Every page of one poll asks for the same range: the token belongs to it.
        const page = await reader.filter({ logGroupName, startTime, filterPattern, nextToken }, signal);
        for (const event of page?.events ?? []) {
          found = true;
          const id = event.eventId ?? `${event.timestamp}:${event.message}`;
          if (shown.has(id)) continue;
          const timestamp = event.timestamp ?? 0;
          shown.set(id, timestamp);
          newest = Math.max(newest, timestamp);
          const message = (event.message ?? '').trimEnd();
          io.out(
            options.json
              ? JSON.stringify({ timestamp, message })
              : `${new Date(timestamp).toISOString()} ${message}`,
          );
        }
        nextToken = page?.nextToken;
      } while (nextToken !== undefined);
      if (!options.follow) {
        if (!found)
          io.err(
            `No log lines in ${logGroupName} since ${new Date(startTime).toISOString()}${filterPattern ? ` for scan ${scanId}` : ''}.`,
          );
        return ExitCode.ok;
      }
      startTime = Math.max(startTime, newest - FOLLOW_WINDOW_MS);
      for (const [id, timestamp] of shown) if (timestamp < startTime) shown.delete(id);
      await sleep(options.interval * 1000, undefined, { signal });
    }
  } catch (error) {
    if (!signal.aborted) throw error;
    return ExitCode.interrupted;
  } finally {
    interrupts.dispose();
  }
}

/** `30m`, `2h`, `1d`, or seconds as a plain number. */
export function sinceMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/i.exec(text.trim());
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[
    (match?.[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'
  ];
  if (match?.[1] === undefined || !(Number(match[1]) > 0)) {
    throw new CliError(
      `Invalid --since: expected a duration such as 30m, 2h or 1d, received "${text}".`,
      ExitCode.invalidInput,
    );
  }
  return Number(match[1]) * unit * 1000;
}
