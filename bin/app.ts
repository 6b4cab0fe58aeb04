import { App } from 'aws-cdk-lib';
import { readStackContext, ScannerStack } from '../lib/scanner-stack';

/** CDK entry: reads context, builds the stack, nothing else. */
const app = new App();
try {
  const context = readStackContext((key) => app.node.tryGetContext(key));
  new ScannerStack(app, app.node.tryGetContext('stackName') ?? 'DynamoDbKinesisScanner', {
    tableArn: context.tableArn,
    streamArn: context.streamArn,
    exampleConsumer: context.exampleConsumer,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: context.region },
  });
} catch (error) {
  // A bad context value is the user's input: one clear line, no stack trace.
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
