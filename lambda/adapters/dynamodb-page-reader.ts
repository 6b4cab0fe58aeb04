import {
  DescribeTableCommand,
  type DynamoDBClient,
  ScanCommand,
  type AttributeValue as SdkAttributeValue,
} from '@aws-sdk/client-dynamodb';
import type { AttributeMap } from '../core/attribute-value';
import type { Page, PageReader, PageRequest, TableDescription } from '../core/ports';
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

  async describeTable(): Promise<TableDescription> {
    try {
      const { Table } = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      const schema = Table?.KeySchema ?? [];
      const keyAttributes = ['HASH', 'RANGE']
        .map((type) => schema.find((k) => k.KeyType === type)?.AttributeName)
        .filter((name): name is string => name !== undefined);
      return { keyAttributes, itemCount: Table?.ItemCount ?? 0, sizeBytes: Table?.TableSizeBytes ?? 0 };
    } catch (error) {
      throw translateAwsError(error, `DescribeTable on ${this.tableName}`);
    }
  }

  async readPage(request: PageRequest): Promise<Page> {
    const { options } = request;
    const parallel = request.totalSegments > 1;
    try {
      const output = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ExclusiveStartKey: sdkMap(request.exclusiveStartKey),
          Limit: request.limit,
          Segment: parallel ? request.segment : undefined,
          TotalSegments: parallel ? request.totalSegments : undefined,
          FilterExpression: options.filterExpression ?? undefined,
          ProjectionExpression: options.projectionExpression ?? undefined,
          ExpressionAttributeNames: options.expressionNames ?? undefined,
          ExpressionAttributeValues: sdkMap(options.expressionValues),
          ConsistentRead: options.consistentRead || undefined,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      const items = (output.Items ?? []) as AttributeMap[];
      return {
        items,
        scannedCount: output.ScannedCount ?? items.length,
        lastEvaluatedKey: (output.LastEvaluatedKey as AttributeMap | undefined) ?? null,
        readUnits: output.ConsumedCapacity?.CapacityUnits ?? 0,
      };
    } catch (error) {
      throw translateAwsError(error, `Scan on ${this.tableName}`);
    }
  }
}

function sdkMap(map: AttributeMap | null): Record<string, SdkAttributeValue> | undefined {
  return (map ?? undefined) as Record<string, SdkAttributeValue> | undefined;
}
