import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryResponse, StatusResponse } from '../../lambda/contract';
import { checkDelivery } from '../../local/delivery-check';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, startLocalStack } from '../../local/local-stack';
import { readWholeStream } from '../../local/stream-reader';

const run = promisify(execFile);

/** Polls until the check holds; fails when it has not within a deadline that a busy machine stays inside. */
async function until(check: () => Promise<boolean>, deadlineMs = 120_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
const ddbscan = join(__dirname, '..', '..', 'bin', 'ddbscan.js');

describe('the ddbscan CLI against the local stack', () => {
  let stack: LocalStack;
  const items = generateItems(1200, { bigEvery: 0 });
  const cli = async (...args: string[]) => {
    const env = { ...process.env, ...stack.env, DDBSCAN_FUNCTION: 'ddbscan-local' };
    try {
      const { stdout, stderr } = await run(process.execPath, [ddbscan, ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  beforeAll(async () => {
    // The scanner logs at INFO into the local log groups (for `ddbscan logs`), not into this output.
    stack = await startLocalStack({ lambda: { asyncRetryDelaysMs: [100, 200], echoLogs: false } });
    await createDemoTable(stack.clients.dynamodb, 'Orders');
    await writeItems(stack.clients.dynamodb, 'Orders', items);
    await createStream(stack.clients.kinesis, 'cli', 2);
    await deployLocalScanner(stack, {
      tableName: 'Orders',
      streamName: 'cli',
      timeoutMs: 1050,
      handoffMs: 1000,
      checkpointIntervalMs: 100,
      pageSize: 50,
      logLevel: 'INFO',
    });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('drives a scan of 8 segments from start to COMPLETED', async () => {
    const result = await cli('start', '--segments', '8', '--watch', '--json', '--interval', '0.1');
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as StatusResponse);
    const last = lines.at(-1);

    expect(result.code).toBe(0);
    expect(last).toMatchObject({ state: 'COMPLETED', itemsScanned: 1200, segments: { total: 8, done: 8 } });
    const delivery = checkDelivery(
      items,
      ['pk', 'sk'],
      await readWholeStream(stack.clients.kinesis, 'cli'),
      last?.scanId ?? '',
    );
    expect(delivery).toMatchObject({ distinctItems: 1200, missing: 0, altered: 0 });
  });

  it('takes a projection that names the key attributes itself', async () => {
    // DynamoDB refuses a projection that names an attribute twice: start adds only missing keys.
    const started = await cli(
      'start',
      '--restart',
      '--projection',
      'pk, sk, #s',
      '--names',
      '{"#s":"status"}',
      '--json',
    );
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    await until(async () => JSON.parse((await cli('status', '--json')).stdout).state === 'COMPLETED');
  });

  it('reports rejected input in one line with exit code 2', async () => {
    const result = await cli('start', '--segments', 'many');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'ddbscan: Invalid segments: expected an integer from 1 to 1000000, or "auto", received "many".',
    );
  });

  it('reports a missing function with exit code 3', async () => {
    const result = await cli('status', '--function', 'nope');
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toBe('ddbscan: function nope was not found (check the name and the region)');
  });
  it('reports a misspelled flag in one line, with the flag it meant, and no help', async () => {
    const result = await cli('start', '--segmnets', '8');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("ddbscan: unknown option '--segmnets' (did you mean --segments?)\n");
    expect(result.stdout).toBe('');
  });

  it('ends quietly when its output pipe closes', async () => {
    // `true` exits without reading: every write of the CLI meets a closed pipe.
    const shell = `node "$0" plan --table-bytes 10GB --items 1000000 --on-demand | true; echo "exit $\{PIPESTATUS[0]}" >&2`;
    const { stderr } = await run('bash', ['-c', shell, ddbscan], { env: process.env });
    expect(stderr).toBe('exit 0\n');
  });

  it('takes the region, endpoint and credentials from --profile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ddbscan-profile-'));
    try {
      writeFileSync(
        join(dir, 'config'),
        `[profile local-stack]\nregion = ${stack.env.AWS_REGION}\nendpoint_url = ${stack.env.AWS_ENDPOINT_URL_LAMBDA}\n`,
      );
      writeFileSync(
        join(dir, 'credentials'),
        '[local-stack]\naws_access_key_id = local\naws_secret_access_key = local\n',
      );
      // Nothing else says where the scanner is, and the profile's keys win over the environment's.
      const env = {
        ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_'))),
        AWS_ACCESS_KEY_ID: 'not-the-profile',
        AWS_SECRET_ACCESS_KEY: 'not-the-profile',
      };
      const { stdout, stderr } = await run(
        process.execPath,
        [ddbscan, 'status', '--profile', 'local-stack', '--function', 'ddbscan-local', '--json'],
        {
          env: {
            ...env,
            AWS_CONFIG_FILE: join(dir, 'config'),
            AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
          },
        },
      );
      expect(JSON.parse(stdout)).toMatchObject({ state: expect.any(String), tableName: 'Orders' });
      // No warning about two sources of credentials.
      expect(stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops watching at Ctrl-C with exit code 130, leaving the scan running', async () => {
    const started = await cli('start', '--restart', '--max-items-per-second', '1', '--json');
    expect(started.code).toBe(0);
    const env = { ...process.env, ...stack.env, DDBSCAN_FUNCTION: 'ddbscan-local' };
    const watcher = spawn(process.execPath, [ddbscan, 'status', '--watch', '--interval', '0.2'], { env });
    let stderr = '';
    watcher.stderr.on('data', (chunk: Buffer) => {
      // One Ctrl-C, once the watch shows its first poll.
      if (!stderr.includes('RUNNING:') && `${stderr}${chunk}`.includes('RUNNING:')) watcher.kill('SIGINT');
      stderr += chunk.toString('utf8');
    });
    const [code] = await once(watcher, 'exit');

    expect(code).toBe(130);
    expect(stderr).toContain('Stopped watching scan');
    const after = await cli('status', '--json');
    expect(JSON.parse(after.stdout)).toMatchObject({ state: 'RUNNING' });
    expect((await cli('stop')).code).toBe(0);
  });
  it('checks a start while a scan runs: refuses a bad or different request, reports the same one', async () => {
    const slow = ['--segments', '2', '--max-items-per-second', '2'];
    expect((await cli('start', '--restart', ...slow)).code).toBe(0);

    const badFilter = await cli('start', ...slow, '--filter', 'pk = ');
    expect(badFilter.code).toBe(2);
    expect(badFilter.stderr).toMatch(
      /^ddbscan: Invalid filter: expected an input DynamoDB accepts .*received "pk = "\.\n$/,
    );
    const different = await cli('start', '--segments', '3');
    expect(different.code).toBe(2);
    expect(different.stderr).toContain('is running with other options (segments, maxItemsPerSecond differ)');
    const same = await cli('start', ...slow);
    expect(same.code).toBe(0);
    expect(same.stderr).toMatch(/is already running \(2 segments, started/);

    const stopping = await cli('stop');
    expect(stopping.stdout).toMatch(/is STOPPING: each segment stops at its next checkpoint\.$/m);
    await until(async () => JSON.parse((await cli('status', '--json')).stdout).state === 'STOPPED');
    const stopped = await cli('stop');
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/is already STOPPED; `ddbscan resume` continues it\.$/m);
  });
  it('ends `ddbscan local` at once with what to do when its port is taken, or not a port', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      // It returns (no listener left behind keeps it alive) with one line that says what to do.
      const busy = await cli('local', '--port', String(port), '--items', '0');
      expect(busy.code).toBe(2);
      expect(busy.stderr).toBe(
        `ddbscan: port ${port} is in use (by another program, or another ddbscan local): pass --port with the first of 5 free ports, e.g. --port ${port + 100}.\n`,
      );
    } finally {
      taken.close();
    }
    const outOfRange = await cli('local', '--port', '70000');
    expect(outOfRange.code).toBe(2);
    expect(outOfRange.stderr).toContain("argument '70000' is invalid. expected a port from 1 to 65531");
  });
  it('lists the scans it ran, newest first, with the outcome of each', async () => {
    const history = await cli('history', '--json');
    expect(history.code).toBe(0);
    const { scans } = JSON.parse(history.stdout) as HistoryResponse;
    const started = scans.map((scan) => scan.startedAt);
    expect(started).toEqual([...started].sort().reverse());
    expect(scans).toContainEqual(
      expect.objectContaining({ state: 'COMPLETED', segments: 8, itemsScanned: 1200, recordsPut: 1200 }),
    );
    const lines = (await cli('history')).stdout.trim().split('\n');
    expect(lines).toHaveLength(scans.length);
    expect(lines[0]?.startsWith(`${scans[0]?.scanId}  `)).toBe(true);
    expect(
      lines.some((line) => /COMPLETED .* Orders, 8 segments: 1,200 items, 1,200 records in/.test(line)),
    ).toBe(true);
  });
  it("shows the current scan's log lines, and every line with --all", async () => {
    const { scanId } = JSON.parse((await cli('status', '--json')).stdout) as StatusResponse;
    const logs = await cli('logs', '--since', '1h');
    expect(logs.code).toBe(0);
    const lines = logs.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z .*${scanId}`));
    // The scanner's own JSON lines, with the scan's id among their keys.
    expect(lines.some((line) => line.includes(`"scanId":"${scanId}"`))).toBe(true);
    const all = await cli('logs', '--all', '--since', '1h');
    expect(all.stdout).toContain('START RequestId: ');
    expect(all.stdout.split('\n').length).toBeGreaterThan(lines.length);
  });
});
