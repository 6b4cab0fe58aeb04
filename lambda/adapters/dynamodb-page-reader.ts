import {
  DescribeTableCommand,
  type DynamoDBClient,
  ScanCommand,
  type AttributeValue as SdkAttributeValue,
} from '@aws-sdk/client-dynamodb';
import { type AttributeMap, type ItemJson, toJsonMap } from '../core/attribute-value';
import type { Page, PageReader, PageRequest, TableDescription } from '../core/ports';
import { translateAwsError } from './aws-errors';

/**
 * Reads the table with Scan (parallel segments when there are several) and DescribeTable.
 * Throttling is retried by the SDK's retry strategy; what is left is translated.
 *
 * A page's items are kept as DynamoDB sent them, in its JSON form, which is the form a record
 * carries: the SDK would turn every value into an object of its own and every binary value into
 * bytes (about 8 µs per small item, more than the rest of a record's work), only for the
 * record to turn them back.
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
    const command = new ScanCommand({
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
    });
    const raw: RawItems = { items: undefined };
    command.middlewareStack.add((next) => (args) => next(args).then((result) => keepRawItems(result, raw)), {
      step: 'deserialize',
      priority: 'low',
      name: 'ddbscanRawItems',
    });
    try {
      const output = await this.client.send(command);
      // Without the raw items (a client whose send never reaches the wire, as in a mock), the
      // SDK's own form, converted.
      const items = raw.items ?? (output.Items ?? []).map((item) => toJsonMap(item as AttributeMap));
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

interface RawItems {
  items: ItemJson[] | undefined;
}

/**
 * Between the wire and the SDK's deserializer: takes the `Items` of a successful Scan response
 * as they were sent and hands the SDK the rest of the response (counts, LastEvaluatedKey,
 * consumed capacity) to deserialize as usual. Error responses pass untouched.
 */
async function keepRawItems<T extends { response: unknown }>(result: T, raw: RawItems): Promise<T> {
  const response = result.response as { statusCode?: number; body?: unknown };
  if (response.statusCode !== 200 || response.body === undefined) return result;
  const body = JSON.parse((await collect(response.body)).toString('utf8')) as { Items?: ItemJson[] };
  raw.items = body.Items ?? [];
  body.Items = undefined;
  response.body = Buffer.from(JSON.stringify(body), 'utf8');
  return result;
}

async function collect(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function sdkMap(map: AttributeMap | null): Record<string, SdkAttributeValue> | undefined {
  return (map ?? undefined) as Record<string, SdkAttributeValue> | undefined;
}
