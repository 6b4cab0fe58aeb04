import type { StartRequest, StartResponse } from '../../lambda/contract';
import { ValidationError } from '../../lambda/core/errors';
import { parseStart } from '../../lambda/core/request-schema';
import { CliError, ExitCode } from './cli-error';
import { formatStart } from './format-status';
import type { Io } from './io';
import type { ScannerApi } from './scanner-api';
import { runStatusCommand } from './status';

/** Options of `ddbscan start`, as commander parsed them. */
export interface StartCommandOptions {
  readonly segments?: string;
  readonly concurrency?: string;
  readonly restart?: boolean;
  readonly filter?: string;
  readonly projection?: string;
  readonly names?: string;
  readonly values?: string;
  readonly consistentRead?: boolean;
  readonly pageSize?: string;
  readonly startKey?: string;
  readonly recordFormat?: string;
  readonly maxItemsPerSecond?: string;
  readonly maxReadUnitsPerSecond?: string;
  readonly json: boolean;
  readonly watch: boolean;
  readonly interval: number;
}

/**
 * `ddbscan start`: builds a start request from the flags and checks it with the scanner's own
 * request schema (a refusal names the field, as the scanner's would, without a call), sends it,
 * prints the scan id, and with --watch follows it. What needs the table (the expressions, a
 * start key's attributes) the scanner checks.
 */
export async function runStartCommand(
  api: ScannerApi,
  options: StartCommandOptions,
  io: Io,
): Promise<ExitCode> {
  const request = startRequest(options);
  try {
    parseStart({ ...request });
  } catch (error) {
    if (error instanceof ValidationError) throw new CliError(error.message, ExitCode.invalidInput);
    throw error;
  }
  const answer = (await api.call({ ...request })) as StartResponse;
  if (options.json && !options.watch) io.out(JSON.stringify(answer));
  else io.err(formatStart(answer, 'Started'));
  if (!options.watch) return ExitCode.ok;
  return runStatusCommand(api, { watch: true, json: options.json, interval: options.interval }, io);
}

/** Builds the start payload; only JSON syntax is checked here (`runStartCommand` checks the rest). */
export function startRequest(options: StartCommandOptions): StartRequest {
  const request: Record<string, unknown> = { action: 'start' };
  if (options.segments !== undefined)
    request.segments = options.segments === 'auto' ? 'auto' : numberOrText(options.segments);
  if (options.concurrency !== undefined) request.concurrency = numberOrText(options.concurrency);
  if (options.restart) request.restart = true;
  if (options.filter !== undefined) request.filter = options.filter;
  if (options.projection !== undefined) request.projection = options.projection;
  if (options.names !== undefined) request.names = json(options.names, '--names', '{"#s":"status"}');
  if (options.values !== undefined) request.values = json(options.values, '--values', '{":s":{"S":"open"}}');
  if (options.consistentRead) request.consistentRead = true;
  if (options.pageSize !== undefined) request.pageSize = numberOrText(options.pageSize);
  if (options.startKey !== undefined)
    request.startKey = json(options.startKey, '--start-key', '{"pk":{"S":"a"}}');
  if (options.recordFormat !== undefined) request.recordFormat = options.recordFormat;
  if (options.maxItemsPerSecond !== undefined)
    request.maxItemsPerSecond = numberOrText(options.maxItemsPerSecond);
  if (options.maxReadUnitsPerSecond !== undefined)
    request.maxReadUnitsPerSecond = numberOrText(options.maxReadUnitsPerSecond);
  return request as unknown as StartRequest;
}

/** A number when the text is one; otherwise the text, so the scanner's error shows what was typed. */
function numberOrText(text: string): number | string {
  const value = Number(text);
  return text.trim() === '' || Number.isNaN(value) ? text : value;
}

function json(text: string, flag: string, example: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(
      `${flag} is not JSON: expected something like '${example}', received '${text}'.`,
      ExitCode.invalidInput,
    );
  }
}
