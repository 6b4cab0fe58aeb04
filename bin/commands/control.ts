import { ScanState, type StartResponse } from '../../lambda/contract';
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
  io.out(options.json ? JSON.stringify(answer) : describe(action, answer));
  return ExitCode.ok;
}

function describe(action: 'stop' | 'resume', answer: StartResponse): string {
  if (action === 'stop') {
    return answer.state === ScanState.stopping
      ? `Scan ${answer.scanId} is STOPPING: each segment stops at its next checkpoint.`
      : `Scan ${answer.scanId} is already ${answer.state}; \`ddbscan resume\` continues it.`;
  }
  if (answer.relaunched === undefined) return formatStart(answer, 'Resumed');
  const plural = answer.relaunched === 1 ? '' : 's';
  return `Scan ${answer.scanId} is running; relaunched ${answer.relaunched} stalled segment${plural}.`;
}
