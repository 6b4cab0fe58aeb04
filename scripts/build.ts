import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';
import {
  BUNDLE_OPTIONS,
  LAMBDA_BUNDLES,
  type LambdaBundle,
  prebuiltBundleDir,
} from '../lib/bundled-function';

/**
 * `npm run build` (and `npm pack`, through prepack): what the package ships, in `dist/`.
 * - `lib/`, `lambda/`: the construct, the consumer helper and the contract, compiled to CommonJS
 *   with type declarations; the consumer also as an ES module, so a bundler keeps only what a
 *   consumer uses.
 * - `assets/<function>/`: the Lambda bundles the construct deploys, so a user's synth builds nothing.
 * - `bin/ddbscan.js`: the CLI in one file (dynalite and kinesalite, optional, stay outside).
 */
const root = join(__dirname, '..');
const dist = join(root, 'dist');

async function main(): Promise<void> {
  rmSync(dist, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
    {
      stdio: 'inherit',
    },
  );
  const node: BuildOptions = { bundle: true, platform: 'node', logLevel: 'warning', absWorkingDir: root };
  await Promise.all([
    ...Object.entries(LAMBDA_BUNDLES).map(([name, entry]) =>
      build({
        ...node,
        entryPoints: [join(root, entry)],
        outfile: join(prebuiltBundleDir(name as LambdaBundle, join(dist, 'lib')), 'index.js'),
        format: 'cjs',
        minify: BUNDLE_OPTIONS.minify,
        keepNames: BUNDLE_OPTIONS.keepNames,
        sourcemap: BUNDLE_OPTIONS.sourceMap,
        sourcesContent: BUNDLE_OPTIONS.sourcesContent,
        target: BUNDLE_OPTIONS.target,
      }),
    ),
    build({
      ...node,
      entryPoints: [join(root, 'lambda', 'consumer', 'index.ts')],
      outfile: join(dist, 'lambda', 'consumer', 'index.mjs'),
      format: 'esm',
      packages: 'external',
      target: 'node20',
    }),
    build({
      ...node,
      entryPoints: [join(root, 'bin', 'ddbscan.ts')],
      outfile: join(dist, 'bin', 'ddbscan.js'),
      format: 'cjs',
      target: 'node20',
      minify: true,
      keepNames: true,
      external: ['dynalite', 'kinesalite'],
      banner: { js: '#!/usr/bin/env node' },
    }),
  ]);
  // The ES module's types are the CommonJS ones: the same exports.
  writeFileSync(join(dist, 'lambda', 'consumer', 'index.d.mts'), "export * from './index.js';\n");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
