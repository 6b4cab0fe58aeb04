import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ScannerStack } from '../../lib/scanner-stack';

describe('bundling', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'ddbscan-synth-'));
  let bundlePath = '';
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('bundles the handler with the local esbuild, without Docker', () => {
    // CDK says "Bundling asset …" on stderr as it builds the function; the test's output stays clean.
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const app = new App({ outdir });
      new ScannerStack(app, 'Bundled', {
        tableArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/Orders',
        env: { region: 'us-east-1' },
      });
      app.synth();
    } finally {
      stderr.mockRestore();
    }

    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    const bundle = join(outdir, assets[0] ?? '', 'index.js');
    expect(statSync(bundle).size).toBeGreaterThan(100_000);
    expect(readFileSync(bundle, 'utf8')).toContain('SCANNER_TABLE_NAME');
    bundlePath = bundle;
  }, 60_000);

  it('keeps the error names callers rely on after minification', async () => {
    const env = {
      SCANNER_TABLE_NAME: 't',
      SCANNER_STREAM_NAME: 's',
      SCANNER_PARAMETER_NAME: '/p',
      AWS_REGION: 'us-east-1',
      // The rejection is expected: it is asserted below, not logged.
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    };
    Object.assign(process.env, env);
    const { handler } = require(bundlePath) as {
      handler: (event: unknown, context: unknown) => Promise<unknown>;
    };
    const context = { functionName: 'f', getRemainingTimeInMillis: () => 900_000 };

    const error = await handler({ action: 'begin' }, context).catch((e: unknown) => e);

    expect(error).toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('Invalid action'),
    });
  });
});
