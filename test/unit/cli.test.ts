import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../bin/commands/cli-error';
import { runControlCommand } from '../../bin/commands/control';
import { duration, formatStatus } from '../../bin/commands/format-status';
import { colorEnabled, type Io } from '../../bin/commands/io';
import { type LogReader, runLogsCommand, sinceMs } from '../../bin/commands/logs';
import type { ScannerApi } from '../../bin/commands/scanner-api';
import { runStartCommand, startRequest } from '../../bin/commands/start';
import { runStatusCommand } from '../../bin/commands/status';
import type { ConsumerProgress, StatusResponse } from '../../lambda/contract';

function status(overrides: Partial<StatusResponse> = {}): StatusResponse {
  return {
    scanId: 'scan-1',
    state: 'RUNNING',
    tableName: 'Orders',
    startedAt: '2026-11-21T13:00:00.000Z',
    finishedAt: null,
    itemsScanned: 1500,
    recordsPut: 1400,
    bytesPut: 2_500_000,
    handoffs: 3,
    itemsPerSecond: 250,
    tableItemCount: 6000,
    percent: 25,
    etaSeconds: 18,
    chains: 4,
    segments: { total: 4, done: 1, running: 3, pending: 0, stalled: 0, stopped: 0, failed: 0 },
    checkpointAgeSeconds: 4,
    error: null,
    completionEvent: null,
    unreadableParameters: [],
    consumers: [],
    ...overrides,
  };
}

/** A scanner that answers status with the given sequence (the last one repeats). */
function fakeApi(statuses: StatusResponse[]): ScannerApi & { calls: Record<string, unknown>[] } {
  const calls: Record<string, unknown>[] = [];
  let next = 0;
  return {
    functionName: 'fake',
    calls,
    logGroup: async () => '/aws/lambda/fake',
    async call(payload) {
      calls.push(payload);
      if (payload.action === 'status') return statuses[Math.min(next++, statuses.length - 1)];
      return {
        scanId: 'scan-1',
        state: payload.action === 'stop' ? 'STOPPING' : 'RUNNING',
        alreadyRunning: false,
        segments: 4,
        startedAt: '2026-11-21T13:00:00.000Z',
      };
    },
  };
}

function captureIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    progress: new PassThrough(),
    color: false,
    interrupts: () => ({ signal: new AbortController().signal, dispose: () => {} }),
  };
}

describe('ddbscan start', () => {
  it('turns the flags into a start request', () => {
    expect(
      startRequest({
        segments: '8',
        restart: true,
        filter: '#s = :s',
        names: '{"#s":"status"}',
        values: '{":s":{"S":"open"}}',
        projection: '#s',
        consistentRead: true,
        pageSize: '100',
        startKey: '{"pk":{"S":"a"}}',
        recordFormat: 'item',
        maxItemsPerSecond: '2000',
        maxReadUnitsPerSecond: '150',
        json: false,
        watch: false,
        interval: 2,
      }),
    ).toEqual({
      action: 'start',
      segments: 8,
      restart: true,
      filter: '#s = :s',
      names: { '#s': 'status' },
      values: { ':s': { S: 'open' } },
      projection: '#s',
      consistentRead: true,
      pageSize: 100,
      startKey: { pk: { S: 'a' } },
      recordFormat: 'item',
      maxItemsPerSecond: 2000,
      maxReadUnitsPerSecond: 150,
    });
    expect(startRequest({ segments: 'auto', json: false, watch: false, interval: 2 })).toEqual({
      action: 'start',
      segments: 'auto',
    });
  });

  it('names the flag whose JSON does not parse, as invalid input', () => {
    const attempt = () => startRequest({ values: '{":s":', json: false, watch: false, interval: 2 });
    expect(attempt).toThrow(CliError);
    expect(attempt).toThrow(
      `--values is not JSON: expected something like '{":s":{"S":"open"}}', received '{":s":'.`,
    );
    try {
      attempt();
    } catch (error) {
      expect((error as CliError).exitCode).toBe(ExitCode.invalidInput);
    }
  });

  it.each([
    [
      { segments: 'many' },
      'Invalid segments: expected an integer from 1 to 1000000, or "auto", received "many".',
    ],
    [
      { names: '{"s":"status"}' },
      'Invalid names.s: expected a "#placeholder" mapped to an attribute name, received "status".',
    ],
    [
      { segments: '4', concurrency: '4', maxItemsPerSecond: '2' },
      'Invalid maxItemsPerSecond: expected at least 1 per chain (4 chains at once), received 2.',
    ],
  ])('refuses %j as the scanner would, without calling it', async (flags, message) => {
    const api = fakeApi([status()]);
    const attempt = runStartCommand(api, { ...flags, json: false, watch: false, interval: 2 }, captureIo());
    await expect(attempt).rejects.toThrow(new CliError(message, ExitCode.invalidInput));
    await expect(attempt).rejects.toMatchObject({ exitCode: ExitCode.invalidInput });
    expect(api.calls).toEqual([]);
  });

  it('follows the scan with --watch and exits by its outcome', async () => {
    const io = captureIo();
    const api = fakeApi([status(), status({ state: 'COMPLETED', itemsScanned: 6000, etaSeconds: null })]);
    const code = await runStartCommand(api, { segments: '4', json: false, watch: true, interval: 0.001 }, io);
    expect(code).toBe(ExitCode.ok);
    expect(io.stderr[0]).toBe('Started scan scan-1: RUNNING, 4 segments.');
    expect(io.stdout[0]).toContain('scan scan-1  COMPLETED');
  });
});

describe('ddbscan status', () => {
  it('prints a readable summary', () => {
    expect(formatStatus(status())).toEqual([
      'scan scan-1  RUNNING  (table Orders, started 2026-11-21T13:00:00.000Z)',
      '  items      1,500 of ~6,000 (25%)   250 items/s   ETA 18s',
      '  records    1,400 put, 2.5 MB',
      '  segments   4: 1 done, 3 running (0 stalled), 0 pending, 0 stopped, 0 failed',
      '  hand-offs  3, oldest checkpoint 4s ago',
    ]);
    expect(formatStatus(status({ scanId: null }))).toEqual(['No scan has run yet.']);
  });

  it.each([
    ['COMPLETED', ExitCode.ok],
    ['FAILED', ExitCode.scanFailed],
    ['STOPPED', ExitCode.scanStopped],
  ] as const)('ends a watch when the scan is %s with exit code %d', async (state, code) => {
    const io = captureIo();
    const api = fakeApi([
      status(),
      status({ state: 'STOPPING' }),
      status({ state, error: state === 'FAILED' ? 'boom' : null }),
    ]);
    expect(await runStatusCommand(api, { watch: true, json: false, interval: 0.001 }, io)).toBe(code);
    expect(api.calls.filter((c) => c.action === 'status')).toHaveLength(3);
    expect(
      io.stderr.some((line) => line.startsWith('RUNNING: 1,500 items (25%), 250 items/s, ETA 18s')),
    ).toBe(true);
  });

  it('follows the tracked consumers after the scan completed, and exits 7 when one failed records', async () => {
    const consumer = (over: Partial<ConsumerProgress>): ConsumerProgress => ({
      consumer: 'indexer',
      state: 'PROCESSING',
      total: 1400,
      processed: 700,
      failed: 0,
      percent: 50,
      recordsPerSecond: 70,
      lag: 700,
      firstProcessedAt: null,
      lastProcessedAt: null,
      processedEvent: null,
      ...over,
    });
    const done = status({ state: 'COMPLETED', consumers: [consumer({})] });
    const io = captureIo();
    const api = fakeApi([
      status(),
      done,
      status({
        state: 'COMPLETED',
        consumers: [consumer({ state: 'FAILED', processed: 1398, failed: 2, lag: 0 })],
      }),
    ]);

    expect(await runStatusCommand(api, { watch: true, json: false, interval: 0.001 }, io)).toBe(
      ExitCode.recordsFailed,
    );
    expect(io.stderr).toContain('indexer: PROCESSING, 700 processed, 0 failed of 1,400 (50%), 70 records/s');
    expect(io.stdout).toContain(
      '  consumer   indexer  FAILED: 1,398 processed, 2 failed of 1,400 (50%)   70 records/s, 0 behind',
    );
    const processed = fakeApi([
      status(),
      status({ state: 'COMPLETED', consumers: [consumer({ state: 'PROCESSED' })] }),
    ]);
    expect(
      await runStatusCommand(processed, { watch: true, json: false, interval: 0.001 }, captureIo()),
    ).toBe(ExitCode.ok);
  });

  it('gives up with exit code 6 when every unfinished segment has stalled', async () => {
    const io = captureIo();
    const stuck = status({
      segments: { total: 4, done: 1, running: 3, pending: 0, stalled: 3, stopped: 0, failed: 0 },
    });
    expect(
      await runStatusCommand(fakeApi([status(), stuck]), { watch: true, json: false, interval: 0.001 }, io),
    ).toBe(ExitCode.scanStalled);
    expect(io.stderr.at(-1)).toContain('Scan scan-1 is stalled');
  });

  it('stops watching with exit code 1 when a restart replaces the scan', async () => {
    const io = captureIo();
    const code = await runStatusCommand(
      fakeApi([status(), status({ scanId: 'scan-2' })]),
      { watch: true, json: false, interval: 0.001 },
      io,
    );
    expect(code).toBe(ExitCode.failure);
    expect(io.stderr.at(-1)).toBe('Scan scan-1 was replaced by scan scan-2 (a restart); stopped watching.');
  });

  it('ends a watch at Ctrl-C with exit code 130, giving the terminal its cursor back', async () => {
    const interrupt = new AbortController();
    const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
    const drawn: string[] = [];
    terminal.on('data', (chunk: Buffer) => drawn.push(chunk.toString('utf8')));
    const io = {
      ...captureIo(),
      progress: terminal,
      interrupts: () => ({ signal: interrupt.signal, dispose() {} }),
    };
    const api = fakeApi([status()]);
    const watching = runStatusCommand(api, { watch: true, json: false, interval: 60 }, io);
    // The first poll is drawn, then the watch sleeps a minute: Ctrl-C ends it at once.
    setTimeout(() => interrupt.abort(), 10);

    expect(await watching).toBe(ExitCode.interrupted);
    const output = drawn.join('');
    expect(output).toContain('\x1b[?25l');
    expect(output.lastIndexOf('\x1b[?25h')).toBeGreaterThan(output.lastIndexOf('\x1b[?25l'));
    expect(io.stderr.at(-1)).toBe(
      'Stopped watching scan scan-1; the scan goes on (`ddbscan stop` stops it).',
    );
  });

  it('says a new scan is not counted yet, rather than showing zero items, until its first checkpoints', async () => {
    const io = captureIo();
    const fresh = status({
      itemsScanned: 0,
      recordsPut: 0,
      handoffs: 0,
      itemsPerSecond: 0,
      percent: 0,
      etaSeconds: null,
      segments: { total: 4, done: 0, running: 4, pending: 0, stalled: 0, stopped: 0, failed: 0 },
    });
    await runStatusCommand(
      fakeApi([fresh, status({ state: 'COMPLETED' })]),
      { watch: true, json: false, interval: 0.001 },
      io,
    );
    expect(io.stderr[0]).toBe(
      "RUNNING: 4 chains scanning; items are counted at their checkpoints, the first once each chain's first page is in",
    );
  });

  it('gives the cursor back when a status call fails while watching', async () => {
    const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
    const drawn: string[] = [];
    terminal.on('data', (chunk: Buffer) => drawn.push(chunk.toString('utf8')));
    const io = { ...captureIo(), progress: terminal };
    let calls = 0;
    const failing: ScannerApi = {
      functionName: 'fake',
      logGroup: async () => '/aws/lambda/fake',
      async call() {
        if (calls++ > 0) throw new CliError('could not reach function fake', ExitCode.unreachable);
        return status();
      },
    };

    await expect(
      runStatusCommand(failing, { watch: true, json: false, interval: 0.001 }, io),
    ).rejects.toThrow('could not reach function fake');
    const output = drawn.join('');
    expect(output.lastIndexOf('\x1b[?25h')).toBeGreaterThan(output.lastIndexOf('\x1b[?25l'));
  });

  it('colours the state on a colour terminal only, and never with NO_COLOR', () => {
    expect(formatStatus(status({ state: 'FAILED' }), { color: true })[0]).toContain('\x1b[31mFAILED');
    expect(formatStatus(status({ state: 'COMPLETED' }), { color: true })[0]).toContain('\x1b[32mCOMPLETED');
    expect(formatStatus(status(), { color: false })[0]).not.toContain('\x1b');
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
  });

  it('prints one JSON document per poll with --json', async () => {
    const io = captureIo();
    await runStatusCommand(
      fakeApi([status(), status({ state: 'COMPLETED' })]),
      { watch: true, json: true, interval: 0.001 },
      io,
    );
    expect(io.stdout.map((line) => (JSON.parse(line) as StatusResponse).state)).toEqual([
      'RUNNING',
      'COMPLETED',
    ]);
  });
});

describe('ddbscan stop and resume', () => {
  it('sends the action and reports the answer', async () => {
    const io = captureIo();
    const api = fakeApi([]);
    expect(await runControlCommand(api, 'stop', { json: false }, io)).toBe(ExitCode.ok);
    expect(api.calls).toEqual([{ action: 'stop' }]);
    expect(io.stdout).toEqual(['Scan scan-1 is STOPPING: each segment stops at its next checkpoint.']);
  });
});

describe('duration', () => {
  it.each([
    [5, '5s'],
    [75, '1m15s'],
    [3725, '1h02m'],
  ])('shows %d seconds as %s', (seconds, text) => {
    expect(duration(seconds)).toBe(text);
  });
});

describe('ddbscan logs', () => {
  function fakeReader(pages: { events: { eventId: string; timestamp: number; message: string }[] }[]) {
    const calls: Parameters<LogReader['filter']>[0][] = [];
    const reader: LogReader = {
      async filter(input) {
        calls.push(input);
        return pages[Math.min(calls.length - 1, pages.length - 1)] ?? { events: [] };
      },
    };
    return { reader, calls };
  }
  const base = Date.now() - 60_000;
  const event = (n: number) => ({ eventId: `e${n}`, timestamp: base + n, message: `line ${n} scan-1\n` });
  const at = (n: number) => new Date(base + n).toISOString();

  it("reads the current scan's lines from the function's log group, since the given time", async () => {
    const io = captureIo();
    const { reader, calls } = fakeReader([{ events: [event(1), event(2)] }]);
    const before = Date.now();
    expect(
      await runLogsCommand(
        fakeApi([status()]),
        reader,
        { all: false, since: '30m', follow: false, interval: 1 },
        io,
      ),
    ).toBe(ExitCode.ok);
    expect(calls[0]).toMatchObject({ logGroupName: '/aws/lambda/fake', filterPattern: '"scan-1"' });
    expect(calls[0]?.startTime).toBeGreaterThanOrEqual(before - 30 * 60_000);
    expect(io.stdout).toEqual([`${at(1)} line 1 scan-1`, `${at(2)} line 2 scan-1`]);
  });

  it('shows every line with --all, and each line once while following, until Ctrl-C', async () => {
    const interrupt = new AbortController();
    const io = { ...captureIo(), interrupts: () => ({ signal: interrupt.signal, dispose() {} }) };
    const { reader, calls } = fakeReader([{ events: [event(1)] }, { events: [event(1), event(2)] }]);
    const following = runLogsCommand(
      fakeApi([status()]),
      reader,
      { all: true, since: '1h', follow: true, interval: 0.001 },
      io,
    );
    while (calls.length < 3) await new Promise((resolve) => setTimeout(resolve, 1));
    interrupt.abort();

    expect(await following).toBe(ExitCode.interrupted);
    expect(calls[0]?.filterPattern).toBeUndefined();
    expect(io.stdout.map((line) => line.split(' ')[2])).toEqual(['1', '2']);
    // Following looks back a while from the newest line seen, for lines that arrive late.
    expect(calls.at(-1)?.startTime).toBe(event(2).timestamp - 30_000);
  });

  it('asks every page of one read for the same range, and says when there is nothing', async () => {
    const io = captureIo();
    const calls: Parameters<LogReader['filter']>[0][] = [];
    const reader: LogReader = {
      async filter(input) {
        calls.push(input);
        return input.nextToken === undefined
          ? { events: [event(5)], nextToken: 'e5' }
          : { events: [event(6)] };
      },
    };
    await runLogsCommand(
      fakeApi([status()]),
      reader,
      { all: false, since: '1h', follow: false, interval: 1 },
      io,
    );
    expect(calls.map((c) => [c.nextToken, c.startTime === calls[0]?.startTime])).toEqual([
      [undefined, true],
      ['e5', true],
    ]);
    expect(io.stdout).toHaveLength(2);

    const empty = captureIo();
    const none: LogReader = { filter: async () => null };
    await runLogsCommand(
      fakeApi([status()]),
      none,
      { all: false, since: '1h', follow: false, interval: 1 },
      empty,
    );
    expect(empty.stderr[0]).toMatch(/^No log lines in \/aws\/lambda\/fake since .* for scan scan-1\.$/);
  });

  it('reads a duration such as 30m, 2h or 1d, and names the flag for anything else', () => {
    expect([sinceMs('90'), sinceMs('30m'), sinceMs('2h'), sinceMs('1d')]).toEqual([
      90_000, 1_800_000, 7_200_000, 86_400_000,
    ]);
    expect(() => sinceMs('an hour')).toThrow(
      'Invalid --since: expected a duration such as 30m, 2h or 1d, received "an hour".',
    );
  });
});
