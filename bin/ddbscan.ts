import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { version } from '../package.json';
import { CliError, ExitCode } from './commands/cli-error';
import { processIo } from './commands/io';
import type { LogsOptions } from './commands/logs';
import type { PlanCommandOptions } from './commands/plan';
import type { ScannerApi, TargetOptions } from './commands/scanner-api';
import type { StartCommandOptions } from './commands/start';

// The SDK warns on Node 20 that releases after January 2027 need Node 22; the lockfile pins
// working versions, so the output stays readable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Output into a closed pipe (`ddbscan status | head -1`) ends the command quietly, as `cat`
// would, with the exit code it had so far; a closed stderr only loses messages.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? ExitCode.ok);
});
process.stderr.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

/**
 * CLI entry: wires the subcommands; each lives in bin/commands/ and is required when it runs, so
 * `--help` loads neither the AWS SDK nor the local stack.
 */
const program = new Command()
  .name('ddbscan')
  .description('Scan every item of a DynamoDB table into a Kinesis stream with a self-chaining Lambda.')
  .version(version, '-V, --version', "print the package's version")
  .option('--verbose', 'print stack traces on errors')
  // Usage errors in one line, like the AWS CLI's: `--help` shows the options.
  .configureOutput({ outputError: (text, write) => write(`ddbscan: ${oneLine(text)}\n`) })
  .exitOverride();

/** Commander's "error: unknown option '--x'\n(Did you mean --y?)" as one line. */
function oneLine(text: string): string {
  return text
    .replace(/^error: /, '')
    .replace(/\(Did you mean/, '(did you mean')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

// `--profile` works as the AWS CLI's does: the profile's credentials (SSO included), region and
// endpoint_url, over any keys in the environment. Set as AWS_PROFILE, because the SDK reads a
// profile's endpoint_url only from there.
program.hook('preAction', (_program, command) => {
  const { profile } = command.opts<{ profile?: string }>();
  if (profile === undefined) return;
  process.env.AWS_PROFILE = profile;
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    delete process.env[name];
});

/** Options shared by the commands that talk to a deployed (or local) scanner. */
function targeting(command: Command): Command {
  return command
    .option('--function <name>', 'the scanner function (default: $DDBSCAN_FUNCTION)')
    .option('--stack <name>', "find the function in this CloudFormation stack's FunctionName output")
    .option('--region <region>', "AWS region (default: $AWS_REGION, else the profile's)")
    .option(
      '--profile <name>',
      'profile of the shared AWS config and credentials files (default: $AWS_PROFILE)',
    )
    .option(
      '--endpoint-url <url>',
      "Lambda endpoint, e.g. the local stack's (default: $AWS_ENDPOINT_URL_LAMBDA)",
    )
    .option('--json', 'machine-readable output', false);
}

targeting(program.command('start'))
  .description('start a scan (or report the running one)')
  .option('--segments <n>', 'parallel scan segments: 1 to 1000000, or "auto"')
  .option('--concurrency <n>', "chains at once, 1 to 1000 (default: the function's, 100)")
  .option('--restart', 'abandon the active scan and start a new one')
  .option('--filter <expression>', 'FilterExpression: only matching items become records')
  .option('--projection <expression>', 'ProjectionExpression: attributes to read (keys are always added)')
  .option('--names <json>', 'ExpressionAttributeNames, e.g. \'{"#s":"status"}\'')
  .option('--values <json>', 'ExpressionAttributeValues, e.g. \'{":s":{"S":"open"}}\'')
  .option('--consistent-read', 'strongly consistent reads')
  .option('--page-size <n>', 'items per Scan page')
  .option('--start-key <json>', 'begin after this key (one segment only)')
  .addOption(new Option('--record-format <format>', 'record format').choices(['dynamodb-stream', 'item']))
  .option('--max-items-per-second <n>', 'at most this many records a second, across all segments')
  .option(
    '--max-read-units-per-second <n>',
    'at most this many read capacity units a second, across all segments',
  )
  .option('--watch', 'follow the scan until it ends', false)
  .option('--interval <seconds>', 'seconds between polls with --watch', positiveNumber, 2)
  .action(async (options: StartCommandOptions & TargetOptions) => {
    const { runStartCommand } = require('./commands/start') as typeof import('./commands/start');
    process.exitCode = await runStartCommand(await connect(options), options, processIo);
  });

targeting(program.command('status'))
  .description('show the progress of the current (or last) scan')
  .option('--watch', 'show a progress bar until the scan ends', false)
  .option('--interval <seconds>', 'seconds between polls with --watch', positiveNumber, 2)
  .action(async (options: TargetOptions & { watch: boolean; json: boolean; interval: number }) => {
    const { runStatusCommand } = require('./commands/status') as typeof import('./commands/status');
    process.exitCode = await runStatusCommand(await connect(options), options, processIo);
  });

targeting(program.command('history'))
  .description('list past scans, newest first, with their outcomes')
  .action(async (options: TargetOptions & { json: boolean }) => {
    const { runHistoryCommand } = require('./commands/history') as typeof import('./commands/history');
    process.exitCode = await runHistoryCommand(await connect(options), options, processIo);
  });

targeting(program.command('failures'))
  .description('list the records of the scan that failed every retry of a tracked consumer')
  .requiredOption('--consumer <name>', "the consumer's name, as status shows it")
  .option('--scan <id>', 'the failures of this scan (default: the current or last one)')
  .option('--limit <n>', 'at most this many records, 1 to 1000', positiveInteger, 100)
  .action(
    async (options: TargetOptions & { consumer: string; scan?: string; limit: number; json: boolean }) => {
      const { runFailuresCommand } = require('./commands/failures') as typeof import('./commands/failures');
      process.exitCode = await runFailuresCommand(await connect(options), options, processIo);
    },
  );

targeting(program.command('replay'))
  .description("put a tracked consumer's failed records of the scan back on the stream, as they were")
  .option('--failed', 'the records that failed every retry of --consumer (the only kind of replay)', false)
  .requiredOption('--consumer <name>', "the consumer's name, as status shows it")
  .option('--scan <id>', 'the failures of this scan (default: the current or last one)')
  .option('--limit <n>', 'at most this many records, 1 to 1000', positiveInteger, 100)
  .action(
    async (
      options: TargetOptions & {
        consumer: string;
        scan?: string;
        limit: number;
        json: boolean;
        failed: boolean;
      },
    ) => {
      const { runReplayCommand } = require('./commands/failures') as typeof import('./commands/failures');
      process.exitCode = await runReplayCommand(await connect(options), options, processIo);
    },
  );

targeting(program.command('logs'))
  .description("show the scanner's log lines of the current scan (CloudWatch Logs), or follow them")
  .option('--scan <id>', 'the lines of this scan (default: the current or last one)')
  .option('--all', 'every line of the function, whatever the scan', false)
  .option('--since <duration>', 'how far back: 30m, 2h, 1d', '1h')
  .option('--follow', 'print new lines as they come, until Ctrl-C', false)
  .option('--interval <seconds>', 'seconds between polls with --follow', positiveNumber, 2)
  .action(async (options: TargetOptions & LogsOptions) => {
    const { runLogsCommand, cloudWatchLogReader } =
      require('./commands/logs') as typeof import('./commands/logs');
    const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    process.exitCode = await runLogsCommand(
      await connect(options),
      cloudWatchLogReader(region),
      options,
      processIo,
    );
  });

for (const action of ['stop', 'resume'] as const) {
  targeting(program.command(action))
    .description(
      action === 'stop'
        ? "stop the scan at each segment's next checkpoint"
        : 'continue a stopped or failed scan',
    )
    .action(async (options: TargetOptions & { json: boolean }) => {
      const { runControlCommand } = require('./commands/control') as typeof import('./commands/control');
      process.exitCode = await runControlCommand(await connect(options), action, options, processIo);
    });
}

program
  .command('plan')
  .description(
    'estimate a scan before running it: segments, duration, Lambda invocations, read units, Kinesis payload units and cost',
  )
  .option('--table <name>', "read the table's size and item count with DescribeTable")
  .option('--stream <name>', "read the stream's mode and shards with DescribeStreamSummary")
  .option('--table-bytes <bytes>', 'table size, e.g. 10GB (overrides --table)')
  .option('--items <n>', 'item count (overrides --table)')
  .option('--on-demand', 'an on-demand stream (4 shards unless --shards says more)')
  .option('--shards <n>', 'open shards of the stream (provisioned unless --on-demand)')
  .option('--segments <n>', 'parallel scan segments: 1 to 1000000, or "auto"', 'auto')
  .option('--concurrency <n>', 'chains at once, 1 to 1000 (default 100)')
  .option('--consistent-read', 'strongly consistent reads (twice the read units)')
  .option(
    '--record-bytes <n>',
    'bytes per record with its partition key (default: estimated from the item size)',
  )
  .option('--table-billing <mode>', '"on-demand" or "provisioned" (overrides --table; default on-demand)')
  .option('--read-capacity <n>', "a provisioned table's read capacity units (overrides --table)")
  .option('--timeout <seconds>', "the function's timeout", '900')
  .option('--handoff <seconds>', 'hand off when less than this remains', '15')
  .option('--memory <mb>', "the function's memory", '1024')
  .option(
    '--region <region>',
    "AWS region of the table and stream (default: $AWS_REGION, else the profile's)",
  )
  .option(
    '--profile <name>',
    'profile of the shared AWS config and credentials files (default: $AWS_PROFILE)',
  )
  .option('--json', 'machine-readable output', false)
  .action(async (options: PlanCommandOptions) => {
    const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    const { runPlanCommand } = require('./commands/plan') as typeof import('./commands/plan');
    const { awsCapacitySource } =
      require('./commands/capacity-source') as typeof import('./commands/capacity-source');
    process.exitCode = await runPlanCommand(options, awsCapacitySource(region), processIo);
  });

program
  .command('demo')
  .description('run a whole scan on the embedded local stack and prove every item arrived')
  .option('--items <n>', 'items in the demo table', positiveInteger, 3000)
  .option('--segments <n>', 'parallel segments', positiveInteger, 4)
  .option('--seed <n>', 'seed of the generated items', positiveInteger, 1)
  .option('--duplicate-delivery', 'deliver every async invocation twice, as Lambda may', false)
  .option('--fail-items <n>', 'the example consumer fails this many items every time', nonNegativeInteger, 0)
  .action(
    async (options: {
      items: number;
      segments: number;
      seed: number;
      duplicateDelivery: boolean;
      failItems: number;
    }) => {
      const { runDemoCommand } = require('./commands/demo') as typeof import('./commands/demo');
      process.exitCode = await runDemoCommand(options);
    },
  );

program
  .command('local')
  .description('keep the embedded local stack running and print its endpoints')
  .option(
    '--port <n>',
    'first of five consecutive ports: DynamoDB, Kinesis, SSM, Lambda, EventBridge',
    firstPort,
    4510,
  )
  .option('--items <n>', 'items in the sample table', nonNegativeInteger, 1000)
  .addOption(
    new Option('--log-level <level>', "the scanner's log level")
      .choices(['DEBUG', 'INFO', 'WARN', 'ERROR'])
      .default('WARN'),
  )
  .action(async (options: { port: number; items: number; logLevel: string }) => {
    const { runLocalCommand } = require('./commands/local') as typeof import('./commands/local');
    process.exitCode = await runLocalCommand(options);
  });

async function connect(options: TargetOptions): Promise<ScannerApi> {
  const { connectScanner } = require('./commands/scanner-api') as typeof import('./commands/scanner-api');
  return connectScanner(options);
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidArgumentError(`expected a whole number of at least 1, received "${text}".`);
  return value;
}

/** The first of `ddbscan local`'s five consecutive ports. */
function firstPort(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65_531)
    throw new InvalidArgumentError(
      `expected a port from 1 to 65531 (five in a row from it), received "${text}".`,
    );
  return value;
}

function nonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new InvalidArgumentError(`expected a whole number of at least 0, received "${text}".`);
  return value;
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError(`expected a number above 0, received "${text}".`);
  return value;
}

program.parseAsync().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander already printed the message (and the help after an error).
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.invalidInput;
    return;
  }
  const verbose = program.opts<{ verbose?: boolean }>().verbose === true;
  const message = error instanceof Error ? error.message : String(error);
  console.error(`ddbscan: ${message}`);
  if (verbose && error instanceof Error) console.error(error.stack);
  process.exitCode = error instanceof CliError ? error.exitCode : ExitCode.failure;
});
