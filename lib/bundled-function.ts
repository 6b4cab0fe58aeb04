import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { acknowledgeRuntime, BUNDLE_TARGET, FUNCTION_RUNTIME } from './runtime';

/** The functions this library deploys, by bundle name: the handler module each is built from. */
export const LAMBDA_BUNDLES = {
  scanner: 'lambda/handlers/scanner.ts',
  'example-consumer': 'lambda/handlers/example-consumer.ts',
  'failure-counter': 'lambda/handlers/failure-counter.ts',
} as const;
export type LambdaBundle = keyof typeof LAMBDA_BUNDLES;

/**
 * How every bundle is built, by `npm run build` and by CDK from source alike: one minified
 * CommonJS file with the AWS SDK inside (the function runs the versions the tests ran), error
 * class names kept (`errorType` is the contract callers see: ValidationError, …), a source map.
 */
export const BUNDLE_OPTIONS = {
  minify: true,
  keepNames: true,
  sourceMap: true,
  // Stack traces need only the mappings; without the sources the map is under half the size.
  sourcesContent: false,
  target: BUNDLE_TARGET,
} as const;

/** Where the installed package keeps its pre-built bundles: `dist/assets/<name>/index.js`. */
export function prebuiltBundleDir(name: LambdaBundle, libDir = __dirname): string {
  return path.join(libDir, '..', 'assets', name);
}

/**
 * A Node.js function of one of the library's handlers. From the installed package it uses the
 * pre-built bundle, so a user's synth needs no esbuild, Docker or TypeScript; from the
 * repository's source (where no bundle sits beside the code) CDK bundles the handler with the
 * local esbuild, with the same options.
 */
export function createBundledFunction(
  scope: Construct,
  id: string,
  name: LambdaBundle,
  props: Omit<lambda.FunctionProps, 'code' | 'handler' | 'runtime'>,
): lambda.Function {
  const prebuilt = prebuiltBundleDir(name);
  const entry = path.join(__dirname, '..', LAMBDA_BUNDLES[name]);
  const usePrebuilt = existsSync(path.join(prebuilt, 'index.js'));
  if (!usePrebuilt && !existsSync(entry)) {
    throw new Error(
      `The dynamodb-kinesis-scanner package has no ${name} bundle (expected ${prebuilt}/index.js): reinstall the package.`,
    );
  }
  const fn = usePrebuilt
    ? new lambda.Function(scope, id, {
        ...props,
        runtime: FUNCTION_RUNTIME,
        code: lambda.Code.fromAsset(prebuilt),
        handler: 'index.handler',
      })
    : new NodejsFunction(scope, id, {
        ...props,
        runtime: FUNCTION_RUNTIME,
        entry,
        handler: 'handler',
        // esbuild's warnings and errors only, not its size summary.
        bundling: {
          ...BUNDLE_OPTIONS,
          externalModules: [],
          format: OutputFormat.CJS,
          logLevel: LogLevel.WARNING,
        },
        depsLockFilePath: path.join(__dirname, '..', 'package-lock.json'),
        projectRoot: path.join(__dirname, '..'),
      });
  acknowledgeRuntime(fn);
  return fn;
}
