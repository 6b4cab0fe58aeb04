import type { StartResponse } from '../../lambda/contract';
import { ExitCode } from './cli-error';
import { formatStart } from './format-status';
import type { Io } from './io';
import type { ScannerApi } from './scanner-api';

/** `ddbscan stop` and `ddbscan resume`: one request each, the answer printed. */
export async function runControlCommand(
  api: ScannerApi,
  action: 'stop' | 'resume',
  options: { readonly json: boolean },
  io: Io,
): Promise<ExitCode> {
  const answer = (await api.call({ action })) as StartResponse;
  if (options.json) io.out(JSON.stringify(answer));
  else if (action === 'stop')
    io.out(`Scan ${answer.scanId} is ${answer.state}: each segment stops at its next checkpoint.`);
  else io.out(formatStart(answer, 'Resumed'));
  return ExitCode.ok;
}
