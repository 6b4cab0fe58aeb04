import type { FailuresResponse, ReplayResponse } from '../../lambda/contract';
import { CliError, ExitCode } from './cli-error';
import type { Io } from './io';
import type { ScannerApi } from './scanner-api';

export interface ConsumerCommandOptions {
  readonly consumer: string;
  readonly scan?: string;
  readonly limit?: number;
  readonly json: boolean;
}

/**
 * `ddbscan failures --consumer <name>`: the records of the scan that failed every retry of a
 * tracked consumer, one line each (the item's key, when it failed, where it is on the stream).
 */
export async function runFailuresCommand(
  api: ScannerApi,
  options: ConsumerCommandOptions,
  io: Io,
): Promise<ExitCode> {
  const answer = (await api.call(request('failures', options))) as FailuresResponse;
  if (options.json) {
    io.out(JSON.stringify(answer));
    return ExitCode.ok;
  }
  if (answer.records.length === 0) {
    io.out(`No record of scan ${answer.scanId} failed in ${answer.consumer}.`);
    return ExitCode.ok;
  }
  for (const r of answer.records) {
    const where = r.shardId === null ? '' : `  ${r.shardId}/${r.sequenceNumber}`;
    io.out(`${JSON.stringify(r.keys)}  failed ${r.failedAt}  ${r.eventID}${where}`);
  }
  io.err(
    `${answer.records.length}${answer.more ? '+' : ''} records of scan ${answer.scanId} failed in ${answer.consumer}; ` +
      `fix the consumer, then \`ddbscan replay --failed --consumer ${answer.consumer}\` sends them again.`,
  );
  return ExitCode.ok;
}

/** `ddbscan replay --failed --consumer <name>`: puts those records back on the stream. */
export async function runReplayCommand(
  api: ScannerApi,
  options: ConsumerCommandOptions & { readonly failed: boolean },
  io: Io,
): Promise<ExitCode> {
  if (!options.failed) {
    throw new CliError(
      'replay needs --failed: it sends again the records a consumer failed.',
      ExitCode.invalidInput,
    );
  }
  const answer = (await api.call(request('replay', options))) as ReplayResponse;
  if (options.json) io.out(JSON.stringify(answer));
  else {
    io.out(
      `Replayed ${answer.replayed} failed records of scan ${answer.scanId} for ${answer.consumer}` +
        (answer.gone > 0
          ? `; ${answer.gone} are no longer on the stream (run the scan again for those)`
          : '') +
        (answer.more ? '; more remain: replay again' : '.'),
    );
  }
  return answer.gone > 0 ? ExitCode.failure : ExitCode.ok;
}

function request(action: 'failures' | 'replay', options: ConsumerCommandOptions): Record<string, unknown> {
  return {
    action,
    consumer: options.consumer,
    ...(options.scan === undefined ? {} : { scanId: options.scan }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  };
}
