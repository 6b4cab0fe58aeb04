import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { StreamDescription } from '../../lambda/core/ports';
import { CliError, ExitCode } from './cli-error';
import type { TableBilling } from './plan-estimate';

/** What DescribeTable says about a table's size and read capacity. */
export interface TableFacts {
  /** Approximate: DynamoDB updates it about every six hours. */
  readonly sizeBytes: number;
  readonly itemCount: number;
  readonly billing: TableBilling;
  /** Provisioned read capacity units; null for an on-demand table. */
  readonly readCapacity: number | null;
}

/** Where `ddbscan plan` reads the table's and the stream's facts. A port, so tests can fake it. */
export interface CapacitySource {
  describeTable(tableName: string): Promise<TableFacts>;
  describeStream(streamName: string): Promise<StreamDescription>;
}

/**
 * Reads the facts with DescribeTable and DescribeStreamSummary. Endpoints come from
 * AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_KINESIS (the SDK reads them), so the local
 * stack works too.
 */
export function awsCapacitySource(region: string | undefined): CapacitySource {
  return {
    async describeTable(tableName) {
      const client = new DynamoDBClient({ region });
      try {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
        // A table created before on-demand existed has no BillingModeSummary: it is provisioned.
        const billing =
          Table?.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST' ? 'PAY_PER_REQUEST' : 'PROVISIONED';
        return {
          sizeBytes: Table?.TableSizeBytes ?? 0,
          itemCount: Table?.ItemCount ?? 0,
          billing,
          readCapacity:
            billing === 'PROVISIONED' ? (Table?.ProvisionedThroughput?.ReadCapacityUnits ?? null) : null,
        };
      } catch (error) {
        throw unreachable(error, `table ${tableName}`);
      } finally {
        client.destroy();
      }
    },
    async describeStream(streamName) {
      // The Kinesis client defaults to HTTP/2, which the local emulator rejects.
      const client = new KinesisClient({ region, requestHandler: new NodeHttpHandler() });
      try {
        const { StreamDescriptionSummary: summary } = await client.send(
          new DescribeStreamSummaryCommand({ StreamName: streamName }),
        );
        return {
          mode: summary?.StreamModeDetails?.StreamMode === 'ON_DEMAND' ? 'ON_DEMAND' : 'PROVISIONED',
          openShards: summary?.OpenShardCount ?? 1,
        };
      } catch (error) {
        throw unreachable(error, `stream ${streamName}`);
      } finally {
        client.destroy();
      }
    },
  };
}

function unreachable(error: unknown, what: string): CliError {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const text =
    name === 'ResourceNotFoundException'
      ? `${what} was not found (check the name and the region)`
      : `could not describe ${what}: ${name}: ${message}`;
  return new CliError(text, ExitCode.unreachable, { cause: error });
}
