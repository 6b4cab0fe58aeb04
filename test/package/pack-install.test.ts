import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScannerMetrics } from '../../lambda/contract';
import { type AttributeMap, toJsonMap } from '../../lambda/core/attribute-value';
import { buildRecord } from '../../lambda/core/record-format';
import { kinesisEventRecord } from '../fakes';
import { appLockfile, appManifest, type Lockfile } from './app-lockfile';

/**
 * The package as a user gets it: packed, installed into a fresh app with its peer dependencies
 * (from this project's lockfile, so from npm's cache), and used there with no build tools of the
 * app's own: a CDK app synthesizes a scanner from the pre-built bundle, a consumer Lambda bundles
 * the consumer helper, TypeScript finds the types, and the CLI runs, demo included.
 */

const execute = promisify(execFile);
const project = join(__dirname, '..', '..');
const TABLE_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/Orders';

/** The child's environment, without the variables `npm test` sets for this project's npm. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return { ...env, ...extra };
}

async function run(command: string, args: readonly string[], cwd: string, extra?: Record<string, string>) {
  try {
    const { stdout, stderr } = await execute(command, args, {
      cwd,
      env: childEnv(extra),
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message };
  }
}

async function ok(command: string, args: readonly string[], cwd: string, extra?: Record<string, string>) {
  const result = await run(command, args, cwd, extra);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}\n${result.stdout}`,
    );
  }
  return result.stdout;
}

/** The packages (`aws-lambda`, `aws-cdk-lib`, …) that the `.d.ts` files under `dir` import. */
function declarationImports(dir: string): Set<string> {
  const packages = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.d\.m?ts$/.test(entry.name)) continue;
    // Without comments: an @example's import is not one of the declarations'.
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const [, specifier = ''] of text.matchAll(/(?:from|import\()\s*'([^'.][^']*)'/g)) {
      if (specifier.startsWith('node:')) continue;
      const parts = specifier.split('/');
      packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier));
    }
  }
  return packages;
}

interface PackResult {
  readonly filename: string;
  readonly integrity: string;
  readonly size: number;
  readonly files: readonly { readonly path: string }[];
}

describe('the npm package', () => {
  const work = mkdtempSync(join(tmpdir(), 'ddbscan-package-'));
  const app = join(work, 'app');
  const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
  let packed: PackResult;

  beforeAll(async () => {
    await ok('npm', ['run', 'build', '--silent'], project);
    // --ignore-scripts: built just above, instead of again by prepack.
    const packOutput = await ok(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', work, '--loglevel=error'],
      project,
    );
    [packed] = JSON.parse(packOutput) as [PackResult];
    const lockfile = appLockfile(
      JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as Lockfile,
      {
        name: manifest.name,
        version: manifest.version,
        tarball: `../${packed.filename}`,
        integrity: packed.integrity,
        manifest,
      },
      // @types/node: what a TypeScript app has beside them, for the type check below.
      [...Object.keys(manifest.peerDependencies), '@types/node'],
    );
    await ok('mkdir', ['-p', app], work);
    writeFileSync(join(app, 'package.json'), JSON.stringify(appManifest(lockfile), null, 2));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lockfile, null, 2));
    await ok('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('holds the compiled code, its types, the Lambda bundles, the CLI, README, license and changelog; nothing else', () => {
    const paths = packed.files.map((file) => file.path).sort();
    for (const path of paths) {
      expect(path).toMatch(
        /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|bin\/ddbscan\.js|dist\/(lib|lambda)\/.+\.(js|mjs|d\.ts|d\.mts)|dist\/assets\/(scanner|example-consumer|failure-counter)\/index\.js(\.map)?|dist\/bin\/ddbscan\.js)$/,
      );
    }
    expect(paths).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'CHANGELOG.md',
        'dist/lib/index.d.ts',
        'dist/lambda/consumer/index.mjs',
        'dist/assets/scanner/index.js',
        'dist/assets/example-consumer/index.js',
        'dist/bin/ddbscan.js',
      ]),
    );
    expect(packed.filename).toBe(`dynamodb-kinesis-scanner-${manifest.version}.tgz`);
  });

  it('installs without a build tool: no esbuild, TypeScript or tsx in the app', () => {
    const installed = readdirSync(join(app, 'node_modules'));
    expect(installed).toEqual(
      expect.arrayContaining(['dynamodb-kinesis-scanner', 'aws-cdk-lib', 'constructs']),
    );
    for (const tool of ['esbuild', 'typescript', 'tsx', '@esbuild']) expect(installed).not.toContain(tool);
  });

  it('synthesizes a scanner with an imported table and a consumer from the pre-built bundle', async () => {
    writeFileSync(
      join(app, 'app.js'),
      `const { App, Stack } = require('aws-cdk-lib');
const dynamodb = require('aws-cdk-lib/aws-dynamodb');
const lambda = require('aws-cdk-lib/aws-lambda');
const { DynamoDbKinesisScanner, ScannerStack } = require('dynamodb-kinesis-scanner');

const app = new App();
const env = { account: '123456789012', region: 'us-east-1' };
const stack = new Stack(app, 'Backfill', { env });
const table = dynamodb.Table.fromTableArn(stack, 'Orders', '${TABLE_ARN}');
const scanner = new DynamoDbKinesisScanner(stack, 'Scanner', { table });
const indexer = new lambda.Function(stack, 'Indexer', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => ({ batchItemFailures: [] });'),
});
scanner.addConsumer(indexer);
new ScannerStack(app, 'Whole', { tableArn: '${TABLE_ARN}', exampleConsumer: true, env });
app.synth();
`,
    );
    const outdir = join(app, 'cdk.out');
    await ok(process.execPath, ['app.js'], app, { CDK_OUTDIR: outdir });

    const template = Template.fromJSON(
      JSON.parse(readFileSync(join(outdir, 'Backfill.template.json'), 'utf8')),
    );
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      RecursiveLoop: 'Allow',
      Code: { S3Key: Match.stringLikeRegexp('\\.zip$') },
    });
    template.resourceCountIs('AWS::SSM::Parameter', 1);
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: Match.stringLikeRegexp('^Indexer') },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // The function's asset is the bundle the package ships, byte for byte.
    const shipped = readFileSync(
      join(app, 'node_modules', manifest.name, 'dist', 'assets', 'scanner', 'index.js'),
    );
    const consumer = readFileSync(
      join(app, 'node_modules', manifest.name, 'dist', 'assets', 'example-consumer', 'index.js'),
    );
    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    const bundles = assets.map((asset) => readFileSync(join(outdir, asset, 'index.js')));
    expect(bundles.some((bundle) => bundle.equals(shipped))).toBe(true);
    expect(bundles.some((bundle) => bundle.equals(consumer))).toBe(true);

    const whole = Template.fromJSON(JSON.parse(readFileSync(join(outdir, 'Whole.template.json'), 'utf8')));
    // The example consumer's mapping on the stream, and the failure counter's on its failure queue.
    whole.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    expect(
      Object.keys(whole.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } })),
    ).toHaveLength(3);
  });

  it('imports from CommonJS and from an ES module, with types TypeScript resolves', async () => {
    const esm = await ok(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DynamoDbKinesisScanner, ScannerMetrics } from 'dynamodb-kinesis-scanner';
import { parseScanRecord } from 'dynamodb-kinesis-scanner/consumer';
import { ScanState } from 'dynamodb-kinesis-scanner/contract';
console.log(typeof DynamoDbKinesisScanner, typeof parseScanRecord, ScanState.completed, ScannerMetrics.namespace);`,
      ],
      app,
    );
    expect(esm.trim()).toBe(`function function COMPLETED ${ScannerMetrics.namespace}`);

    const source = `import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { DynamoDbKinesisScanner, type DynamoDbKinesisScannerProps } from 'dynamodb-kinesis-scanner';
import { parseScanRecord, type ScanStreamRecord } from 'dynamodb-kinesis-scanner/consumer';
import type { StartRequest, StatusResponse } from 'dynamodb-kinesis-scanner/contract';

const stack = new Stack(new App(), 'Typed');
const props: DynamoDbKinesisScannerProps = { table: dynamodb.Table.fromTableName(stack, 'T', 'Orders') };
const scanner: DynamoDbKinesisScanner = new DynamoDbKinesisScanner(stack, 'Scanner', props);
const request: StartRequest = { action: 'start', segments: 8 };
export const done = (status: StatusResponse): boolean => status.state === 'COMPLETED';
export const key = (data: Uint8Array): ScanStreamRecord['eventID'] => parseScanRecord(data).eventID;
export const names = [scanner.function.functionName, request.action];
`;
    writeFileSync(join(app, 'typed.ts'), source);
    writeFileSync(join(app, 'typed-esm.mts'), source);
    // Every package the declarations import is installed in the app: TypeScript would silently
    // read a missing one as `any` behind skipLibCheck (and checking all of aws-cdk-lib's
    // declarations instead takes long).
    const installed = join(app, 'node_modules', manifest.name, 'dist');
    for (const imported of declarationImports(installed)) {
      const typesOf = imported.startsWith('@') ? imported.slice(1).replace('/', '__') : imported;
      const found = [imported, `@types/${typesOf}`].some((name) =>
        existsSync(join(app, 'node_modules', name, 'package.json')),
      );
      expect(found, `${imported}, imported by the package's declarations, is installed`).toBe(true);
    }
    // The app's own types only, no typeRoots of this project.
    const compilerOptions = {
      target: 'es2022',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
    };
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    const check = async (name: string, options: Record<string, unknown>, files: string[]) => {
      writeFileSync(
        join(app, name),
        JSON.stringify({ compilerOptions: { ...compilerOptions, ...options }, files }),
      );
      await ok(process.execPath, [tsc, '-p', join(app, name)], app);
    };
    await check('tsconfig.json', { module: 'nodenext', moduleResolution: 'nodenext' }, [
      'typed.ts',
      'typed-esm.mts',
    ]);
    // Older CDK apps: CommonJS with node10 resolution, which reads typesVersions for the subpaths.
    await check('tsconfig.node10.json', { module: 'commonjs', moduleResolution: 'node10' }, ['typed.ts']);
  });

  it('bundles a consumer that decodes a real record, without aws-cdk-lib or the scanner', async () => {
    writeFileSync(
      join(app, 'consumer.mjs'),
      `import { parseScanRecord } from 'dynamodb-kinesis-scanner/consumer';
export const handler = async (event) => event.Records.map((record) => parseScanRecord(record).newImage);
`,
    );
    writeFileSync(
      join(app, 'idempotent-consumer.mjs'),
      `import { createConsumerHandler } from 'dynamodb-kinesis-scanner/consumer';
export const handler = createConsumerHandler({ process: async () => {} });
`,
    );
    const bundle = async (entry: string) => {
      const outfile = join(app, 'out', `${entry}.cjs`);
      const result = await build({
        absWorkingDir: app,
        entryPoints: [entry],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        minify: true,
        outfile,
        metafile: true,
        logLevel: 'silent',
      });
      const inputs = Object.keys(result.metafile.inputs);
      expect(
        inputs.filter((input) =>
          /aws-cdk-lib|constructs|dist\/lib\/|lambda\/core\/(?!attribute)/.test(input),
        ),
      ).toEqual([]);
      return { outfile, bytes: statSync(outfile).size };
    };
    const parsing = await bundle('consumer.mjs');
    const idempotent = await bundle('idempotent-consumer.mjs');
    // A parse-only consumer stays small; the Powertools one carries them (the README gives both).
    expect(parsing.bytes).toBeLessThan(100_000);
    expect(idempotent.bytes).toBeGreaterThan(parsing.bytes);

    const item: AttributeMap = {
      pk: { S: 'order#1' },
      total: { N: '12345678901234567890' },
      tag: { B: new Uint8Array([0, 255]) },
    };
    const record = buildRecord(
      toJsonMap(item),
      {
        tableName: 'Orders',
        region: 'us-east-1',
        keyAttributes: ['pk'],
        scanId: 's',
        segment: 0,
        format: 'dynamodb-stream',
      },
      1_700_000_000_000,
    );
    const { handler } = require(parsing.outfile) as { handler: (event: unknown) => Promise<AttributeMap[]> };
    const [image] = await handler({ Records: [kinesisEventRecord(record.data)] });
    expect(image).toEqual(item);
  });

  it('runs the CLI, help, version and plan, from the installed package', async () => {
    const help = await ok('npx', ['--offline', 'ddbscan', '--help'], app);
    for (const command of ['start', 'status', 'stop', 'resume', 'plan', 'demo', 'local'])
      expect(help).toContain(command);
    expect((await ok('npx', ['--offline', 'dynamodb-kinesis-scanner', '--version'], app)).trim()).toBe(
      manifest.version,
    );
    const plan = await ok(
      'npx',
      [
        '--offline',
        'ddbscan',
        'plan',
        '--table-bytes',
        '10GB',
        '--items',
        '1000000',
        '--on-demand',
        '--json',
      ],
      app,
    );
    expect(JSON.parse(plan)).toMatchObject({ segments: { used: 4 }, durationSeconds: expect.any(Number) });
  });

  it('runs the demo from the installed package, with its optional emulators', async () => {
    const demo = await run('npx', ['--offline', 'ddbscan', 'demo', '--items', '300'], app);

    expect(demo.stderr).not.toMatch(/ERROR/);
    expect(demo.stdout).toContain('every item arrived, unchanged');
    expect(demo.code).toBe(0);
  });
});
