import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { CliError, ExitCode } from './cli-error';

/** How the CLI reaches the scanner: one synchronous invoke per request. A port, so tests can fake it. */
export interface ScannerApi {
  /** The function being called, for messages. */
  readonly functionName: string;
  /** `signal` abandons the call (Ctrl-C): the invoke's request is aborted, the promise rejects. */
  call(payload: Record<string, unknown>, options?: { readonly signal?: AbortSignal }): Promise<unknown>;
  /** The function's log group (its logging configuration's, else `/aws/lambda/<name>`). */
  logGroup(): Promise<string>;
}

/** Where the scanner is: a function name, or a stack whose FunctionName output names it. */
export interface TargetOptions {
  readonly function?: string;
  readonly stack?: string;
  readonly region?: string;
  /** Lambda endpoint; also read from AWS_ENDPOINT_URL_LAMBDA. */
  readonly endpointUrl?: string;
}

/**
 * Finds the scanner function (`--function`, else `--stack` outputs, else $DDBSCAN_FUNCTION) and
 * returns an API that invokes it synchronously, as `aws lambda invoke` does.
 */
export async function connectScanner(options: TargetOptions, env = process.env): Promise<ScannerApi> {
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const functionName =
    options.function ??
    (options.stack === undefined ? undefined : await functionFromStack(options.stack, region, env)) ??
    env.DDBSCAN_FUNCTION;
  if (functionName === undefined || functionName === '') {
    throw new CliError(
      'No scanner named: pass --function <name> or --stack <stack name>, or set DDBSCAN_FUNCTION.',
      ExitCode.invalidInput,
    );
  }
  // Lambda's default socket timeout is long enough for a start that launches 1,000 chains.
  const client = new LambdaClient({
    region,
    endpoint: options.endpointUrl ?? env.AWS_ENDPOINT_URL_LAMBDA,
    maxAttempts: 3,
  });
  return {
    functionName,
    async call(payload, options) {
      let output: InvokeCommandOutput;
      try {
        output = await client.send(
          new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(payload)) }),
          { abortSignal: options?.signal },
        );
      } catch (error) {
        if (options?.signal?.aborted) throw error;
        throw unreachable(error, `function ${functionName}`);
      }
      const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : 'null';
      const body: unknown = JSON.parse(text);
      if (output.FunctionError) throw functionError(body);
      return body;
    },
    async logGroup() {
      try {
        const output = await client.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
        return output.LoggingConfig?.LogGroup ?? `/aws/lambda/${functionName}`;
      } catch (error) {
        // Without lambda:GetFunctionConfiguration, the group Lambda uses by default.
        if (error instanceof Error && error.name === 'AccessDeniedException')
          return `/aws/lambda/${functionName}`;
        throw unreachable(error, `function ${functionName}`);
      }
    },
  };
}

async function functionFromStack(
  stack: string,
  region: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const client = new CloudFormationClient({ region, endpoint: env.AWS_ENDPOINT_URL_CLOUDFORMATION });
  try {
    const { Stacks = [] } = await client.send(new DescribeStacksCommand({ StackName: stack }));
    const output = Stacks[0]?.Outputs?.find((o) => o.OutputKey === 'FunctionName')?.OutputValue;
    if (output === undefined) {
      throw new CliError(
        `Stack ${stack} has no FunctionName output: is it a dynamodb-kinesis-scanner stack?`,
        ExitCode.unreachable,
      );
    }
    return output;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw unreachable(error, `stack ${stack}`);
  } finally {
    client.destroy();
  }
}

/** The scanner's own errors: bad input and state conflicts are the caller's to fix. */
function functionError(body: unknown): CliError {
  const { errorType = 'Error', errorMessage = 'the function failed' } = (body ?? {}) as {
    errorType?: string;
    errorMessage?: string;
  };
  const input = errorType === 'ValidationError' || errorType === 'ConflictError';
  return new CliError(
    input ? errorMessage : `${errorType}: ${errorMessage}`,
    input ? ExitCode.invalidInput : ExitCode.failure,
  );
}

function unreachable(error: unknown, what: string): CliError {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const hint =
    name === 'ResourceNotFoundException' || /does not exist/.test(message)
      ? `${what} was not found (check the name and the region)`
      : `could not reach ${what}: ${name}: ${message}`;
  return new CliError(hint, ExitCode.unreachable, { cause: error });
}
