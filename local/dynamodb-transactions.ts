import {
  type AttributeValue,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

type Item = Record<string, AttributeValue>;

/** TransactWriteItems: at most 100 actions (DynamoDB's limit since 2022). */
const MAX_ACTIONS = 100;

/** A TransactWriteItems action as the JSON protocol carries it (the SDK's input shapes). */
interface Action {
  readonly Put?: { TableName: string; Item: Item; ConditionExpression?: string } & Record<string, unknown>;
  readonly Update?: { TableName: string; Key: Item; ConditionExpression?: string } & Record<string, unknown>;
  readonly Delete?: { TableName: string; Key: Item; ConditionExpression?: string } & Record<string, unknown>;
  readonly ConditionCheck?: unknown;
}

/** An answer in DynamoDB's JSON protocol. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * TransactWriteItems for dynalite, which has none: the actions run one by one against dynalite
 * as conditional writes, one transaction at a time, and a transaction with a failed condition is
 * undone (each written item put back as it was) and cancelled with DynamoDB's reasons.
 *
 * Serialized against other transactions, all or nothing, and no count of a cancelled transaction
 * is ever seen: after the first failed condition, the rest's conditions are probed (written and
 * undone at once) so that every reason is reported, and unconditional actions (a counter's ADD)
 * are not applied at all. A plain read may see a transaction's first items before its last, as
 * it could not in DynamoDB; the progress store reads markers only to decide what to write next.
 * ConditionCheck actions are refused.
 */
export class LocalTransactions {
  private readonly client: DynamoDBClient;
  private readonly keySchemas = new Map<string, string[]>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(upstream: string, region = 'us-east-1') {
    this.client = new DynamoDBClient({
      endpoint: upstream,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: new NodeHttpHandler(),
    });
  }

  transactWrite(input: Record<string, unknown>): Promise<JsonAnswer> {
    const run = this.queue.then(() => this.run(input));
    this.queue = run.catch(() => undefined);
    return run;
  }

  destroy(): void {
    this.client.destroy();
  }

  private async run(input: Record<string, unknown>): Promise<JsonAnswer> {
    const actions = (Array.isArray(input.TransactItems) ? input.TransactItems : []) as Action[];
    const invalid = await this.validate(actions);
    if (invalid !== null) return validation(invalid);
    const undo: (() => Promise<unknown>)[] = [];
    const reasons: { Code: string; Message?: string; Item?: Item }[] = [];
    let cancelled = false;
    for (const action of actions) {
      const conditional = (action.Put ?? action.Update ?? action.Delete)?.ConditionExpression !== undefined;
      if (cancelled && !conditional) {
        reasons.push({ Code: 'None' });
        continue;
      }
      try {
        const restore = await this.apply(action);
        if (cancelled) await restore();
        else undo.push(restore);
        reasons.push({ Code: 'None' });
      } catch (error) {
        if ((error as Error).name !== 'ConditionalCheckFailedException') {
          await undoAll(undo);
          const { name, message } = error as Error;
          return { status: 400, body: { __type: `com.amazonaws.dynamodb.v20120810#${name}`, message } };
        }
        cancelled = true;
        const wantsItem =
          (action.Put ?? action.Update ?? action.Delete)?.ReturnValuesOnConditionCheckFailure === 'ALL_OLD';
        const item = wantsItem ? await this.current(action) : undefined;
        reasons.push({
          Code: 'ConditionalCheckFailed',
          Message: 'The conditional request failed',
          ...(item === undefined ? {} : { Item: item }),
        });
      }
    }
    if (!cancelled) return { status: 200, body: {} };
    await undoAll(undo);
    return {
      status: 400,
      body: {
        __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
        Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
        CancellationReasons: reasons,
      },
    };
  }

  /** Writes the action; returns what puts the item back as it was. */
  private async apply(action: Action): Promise<() => Promise<unknown>> {
    const strip = <T extends Record<string, unknown>>(shape: T) => {
      const { ReturnValuesOnConditionCheckFailure: _, ...rest } = shape;
      return rest as T;
    };
    let table: string;
    let key: Item;
    let old: Item | undefined;
    if (action.Put) {
      table = action.Put.TableName;
      key = await this.keyOf(table, action.Put.Item);
      old = (await this.client.send(new PutItemCommand({ ...strip(action.Put), ReturnValues: 'ALL_OLD' })))
        .Attributes;
    } else if (action.Update) {
      table = action.Update.TableName;
      key = action.Update.Key;
      old = (
        await this.client.send(
          new UpdateItemCommand({ ...strip(action.Update), ReturnValues: 'ALL_OLD' } as never),
        )
      ).Attributes;
    } else if (action.Delete) {
      table = action.Delete.TableName;
      key = action.Delete.Key;
      old = (
        await this.client.send(new DeleteItemCommand({ ...strip(action.Delete), ReturnValues: 'ALL_OLD' }))
      ).Attributes;
    } else {
      throw new Error('unreachable: validated');
    }
    return () =>
      old === undefined
        ? this.client.send(new DeleteItemCommand({ TableName: table, Key: key }))
        : this.client.send(new PutItemCommand({ TableName: table, Item: old }));
  }

  private async current(action: Action): Promise<Item | undefined> {
    const table = (action.Put ?? action.Update ?? action.Delete)?.TableName ?? '';
    const key = action.Put ? await this.keyOf(table, action.Put.Item) : (action.Update ?? action.Delete)?.Key;
    const output = await this.client.send(
      new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }),
    );
    return output.Item;
  }

  private async validate(actions: readonly Action[]): Promise<string | null> {
    if (actions.length < 1 || actions.length > MAX_ACTIONS) {
      return `1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ACTIONS}`;
    }
    const seen = new Set<string>();
    for (const action of actions) {
      if (action.ConditionCheck !== undefined)
        return 'ConditionCheck is not supported by the local DynamoDB.';
      const table = (action.Put ?? action.Update ?? action.Delete)?.TableName;
      if (table === undefined) return 'Each TransactItems entry must hold Put, Update or Delete.';
      const key = action.Put
        ? await this.keyOf(table, action.Put.Item)
        : (action.Update ?? action.Delete)?.Key;
      const id = `${table}\n${JSON.stringify(key)}`;
      if (seen.has(id)) return 'Transaction request cannot include multiple operations on one item';
      seen.add(id);
    }
    return null;
  }

  /** The item's key attributes, in key-schema order. */
  private async keyOf(table: string, item: Item): Promise<Item> {
    let names = this.keySchemas.get(table);
    if (names === undefined) {
      const output = await this.client.send(new DescribeTableCommand({ TableName: table }));
      names = (output.Table?.KeySchema ?? []).map((k) => k.AttributeName ?? '');
      this.keySchemas.set(table, names);
    }
    return Object.fromEntries(names.map((name) => [name, item[name] as AttributeValue]));
  }
}

async function undoAll(undo: readonly (() => Promise<unknown>)[]): Promise<void> {
  for (const restore of [...undo].reverse()) await restore();
}

function validation(message: string): JsonAnswer {
  return { status: 400, body: { __type: 'com.amazon.coral.validate#ValidationException', message } };
}
