import { once } from 'node:events';
import { createDemoTable, generateItems, writeItems } from '../../local/demo-data';
import { createStream } from '../../local/local-resources';
import { deployLocalScanner } from '../../local/local-scanner';
import { startLocalStack } from '../../local/local-stack';

/**
 * `ddbscan local`: runs the local stack in the foreground with a sample table, a stream and the
 * scanner function deployed, and prints the variables that point the SDK and the AWS CLI at it.
 */
export async function runLocalCommand(options: {
  port: number;
  items: number;
  logLevel: string;
}): Promise<number> {
  const base = options.port;
  const stack = await startLocalStack({
    ports: { dynamodb: base, kinesis: base + 1, ssm: base + 2, lambda: base + 3, eventbridge: base + 4 },
  });
  const tableName = 'Orders';
  const streamName = 'ddbscan-local-stream';
  await createDemoTable(stack.clients.dynamodb, tableName);
  await writeItems(stack.clients.dynamodb, tableName, generateItems(options.items));
  await createStream(stack.clients.kinesis, streamName, 4);
  const scanner = await deployLocalScanner(stack, { tableName, streamName, logLevel: options.logLevel });

  console.log('Local stack running. In another shell:\n');
  for (const [name, value] of Object.entries(stack.env)) console.log(`export ${name}=${value}`);
  // AWS CLI v1 reads the region from AWS_DEFAULT_REGION only.
  console.log(
    `export AWS_DEFAULT_REGION=${stack.env.AWS_REGION} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local`,
  );
  console.log(`export DDBSCAN_FUNCTION=${scanner.functionName}\n`);
  console.log(`table     ${tableName} (${options.items} items)`);
  console.log(`stream    ${streamName}`);
  console.log(`function  ${scanner.functionName}`);
  console.log(`parameter ${scanner.parameterName}\n`);
  console.log('npx ddbscan start --segments 8 && npx ddbscan status --watch');
  console.log('\nCtrl-C stops it.');

  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  await stack.stop();
  return 0;
}
