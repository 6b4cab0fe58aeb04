import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { acknowledgeNagFinding } from './nag';

/** The runtime the functions are built and tested for: the code must also run on Node 20 locally. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;
/** esbuild's target for that runtime. */
export const BUNDLE_TARGET = 'node22';

/**
 * cdk-nag's AwsSolutions-L1 asks for the newest runtime CDK knows. The functions stay on the
 * runtime this project targets and tests, a supported LTS line; moving to a newer one is a
 * deliberate change (tested, then released), not something a CDK upgrade should do.
 */
export function acknowledgeRuntime(fn: IConstruct): void {
  acknowledgeNagFinding(
    fn,
    'AwsSolutions-L1',
    'The function runs on Node.js 22, the runtime this project targets and tests (an LTS line AWS supports). ' +
      'cdk-nag asks for the newest runtime CDK knows; moving to it is a deliberate, tested change, not a side ' +
      'effect of upgrading CDK.',
  );
}
