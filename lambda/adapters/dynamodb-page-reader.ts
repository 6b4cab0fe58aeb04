import {
  DescribeTableCommand,
  type DynamoDBClient,
  ScanCommand,
  type AttributeValue as SdkAttributeValue,
} from '@aws-sdk/client-dynamodb';
import type { AttributeMap } from '../core/attribute-value';
import type { Page, PageReader, PageRequest } from '../core/ports';
import { translateAwsError } from './aws-errors';

/**
 * Reads the table with Scan (parallel segments when there are several) and DescribeTable.
 * Throttling is retried by the SDK's retry strategy; what is left is translated.
 */
export class DynamoDbPageReader implements PageReader {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async describeTable(): Promise<{ keyAttributes: string[]; itemCount: number }> {
    try {
      const { Table } = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      const schema = Table?.KeySchema ?? [];
      const keyAttributes = ['HASH', 'RANGE']
        .map((type) => schema.find((k) => k.KeyType === type)?.AttributeName)
        .filter((name): name is string => name !== undefined);
      return { keyAttributes, itemCount: Table?.ItemCount ?? 0 };
    } catch (error) {
      throw translateAwsError(error, `DescribeTable on ${this.tableName}`);
    }
  }

  async readPage(request: PageRequest): Promise<Page> {
    try {
      const parallel = request.totalSegments > 1;
      const output = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ExclusiveStartKey: (request.exclusiveStartKey ?? undefined) as
            | Record<string, SdkAttributeValue>
            | undefined,
          Limit: request.limit,
          Segment: parallel ? request.segment : undefined,
          TotalSegments: parallel ? request.totalSegments : undefined,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      return {
        items: (output.Items ?? []) as AttributeMap[],
        lastEvaluatedKey: (output.LastEvaluatedKey as AttributeMap | undefined) ?? null,
      };
    } catch (error) {
      throw translateAwsError(error, `Scan on ${this.tableName}`);
    }
  }
}
