import { once } from 'node:events';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { type LocalStack, PortInUseError, startLocalStack } from '../../local/local-stack';
import { CliError, ExitCode } from './cli-error';

/** `ddbscan local` listens on five consecutive ports from `--port`. */
export const LOCAL_PORTS = 5;

/**
 * `ddbscan local`: runs the local stack in the foreground with a sample table, a stream and the
 * scanner function deployed, and prints the variables that point the SDK and the AWS CLI at it.
 * A start that fails (a port in use) releases everything and says what to do.
 */
export async function runLocalCommand(options: {
  port: number;
  items: number;
  logLevel: string;
}): Promise<number> {
  const base = options.port;
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      ports: { dynamodb: base, kinesis: base + 1, ssm: base + 2, lambda: base + 3, eventbridge: base + 4 },
    });
  } catch (error) {
    if (!(error instanceof PortInUseError)) throw error;
    throw new CliError(
      `port ${error.port} is in use (by another program, or another ddbscan local): pass --port with the first of ${LOCAL_PORTS} free ports, e.g. --port ${base + 100}.`,
      ExitCode.invalidInput,
      { cause: error },
    );
  }
  try {
    const tableName = 'Orders';
    const streamName = 'ddbscan-local-stream';
    await createDemoTable(stack.clients.dynamodb, tableName);
    await writeItems(stack.clients.dynamodb, tableName, generateItems(options.items));
    await createStream(stack.clients.kinesis, streamName, 4);
    const scanner = await deployLocalScanner(stack, { tableName, streamName, logLevel: options.logLevel });
    printUsage(stack, { tableName, streamName, items: options.items, ...scanner });
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  } finally {
    await stack.stop();
  }
  return 0;
}

function printUsage(
  stack: LocalStack,
  names: {
    tableName: string;
    streamName: string;
    items: number;
    functionName: string;
    parameterName: string;
  },
): void {
  const env = stack.env;
  console.log('Local stack running. In another shell:\n');
  for (const [name, value] of Object.entries(env)) console.log(`export ${name}=${value}`);
  // AWS CLI v1 reads the region from AWS_DEFAULT_REGION only.
  console.log(
    `export AWS_DEFAULT_REGION=${env.AWS_REGION} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local`,
  );
  console.log(`export DDBSCAN_FUNCTION=${names.functionName}\n`);
  console.log(`table     ${names.tableName} (${names.items} items)`);
  console.log(`stream    ${names.streamName}`);
  console.log(`function  ${names.functionName}`);
  console.log(`parameter ${names.parameterName}\n`);
  console.log('npx ddbscan start --segments 8 && npx ddbscan status --watch');
  // Clients older than the AWS_ENDPOINT_URL_<SERVICE> variables (AWS CLI before 2.13.0 and
  // 1.29.0, boto3 before 1.28.0) ignore them and call AWS: give them the endpoint on the command.
  console.log(
    '\nAWS CLI before 2.13.0 (or 1.29.0) and boto3 before 1.28.0 ignore those variables; name the endpoint:',
  );
  console.log(
    `aws lambda invoke --endpoint-url ${env.AWS_ENDPOINT_URL_LAMBDA} --function-name ${names.functionName} ` +
      `--cli-binary-format raw-in-base64-out --payload '{"action":"status"}' out.json`,
  );
  console.log(
    `aws ssm get-parameters-by-path --endpoint-url ${env.AWS_ENDPOINT_URL_SSM} --path ${names.parameterName} --recursive`,
  );
  console.log('\nCtrl-C stops it.');
}
