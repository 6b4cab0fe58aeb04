import { Command, InvalidArgumentError } from 'commander';

// The SDK warns on Node 20 that releases after January 2027 need Node 22; the lockfile pins
// working versions, so the demo's output stays readable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { runDemoCommand } from './commands/demo';
import { runLocalCommand } from './commands/local';

/** CLI entry: wires the subcommands; each lives in bin/commands/. */
const program = new Command()
  .name('ddbscan')
  .description('Scan every item of a DynamoDB table into a Kinesis stream with a self-chaining Lambda.')
  .option('--verbose', 'print stack traces on errors')
  .showHelpAfterError();

program
  .command('demo')
  .description('run a whole scan on the embedded local stack and prove every item arrived')
  .option('--items <n>', 'items in the demo table', positiveInteger, 3000)
  .option('--seed <n>', 'seed of the generated items', positiveInteger, 1)
  .option('--duplicate-delivery', 'deliver every async invocation twice, as Lambda may', false)
  .action(async (options: { items: number; seed: number; duplicateDelivery: boolean }) => {
    process.exitCode = await runDemoCommand(options);
  });

program
  .command('local')
  .description('keep the embedded local stack running and print its endpoints')
  .option(
    '--port <n>',
    'first of four consecutive ports: DynamoDB, Kinesis, SSM, Lambda',
    positiveInteger,
    4510,
  )
  .option('--items <n>', 'items in the sample table', nonNegativeInteger, 1000)
  .action(async (options: { port: number; items: number }) => {
    process.exitCode = await runLocalCommand(options);
  });

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidArgumentError(`expected a whole number of at least 1, received "${text}".`);
  return value;
}

function nonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new InvalidArgumentError(`expected a whole number of at least 0, received "${text}".`);
  return value;
}

program.parseAsync().catch((error: unknown) => {
  const verbose = program.opts<{ verbose?: boolean }>().verbose === true;
  console.error(
    `ddbscan: ${verbose && error instanceof Error ? error.stack : error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
});
