import {
  type AttributeValue,
  BatchGetItemCommand,
  type DynamoDBClient,
  QueryCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { CompletionEventOutcome } from '../contract';
import { backoffDelay } from '../core/backoff';
import { TransientError } from '../core/errors';
import type { Clock, FailedRecord, ProgressCounts, ProgressStore } from '../core/ports';
import { translateAwsError } from './aws-errors';
import { systemClock } from './system';

/** The sparse index of the records still counted as failed: partition key `failedOf`, sort key `failedAt`. */
export const FAILED_INDEX = 'failed';

/**
 * Counter items a consumer's counts are spread over. Every transaction updates one, at random:
 * with a single counter, concurrent batches (shards × parallelization factor) would cancel each
 * other's transactions (TransactionConflict). 16 slots of 1,000 write units a second each.
 */
const SLOTS = 16;
/** Marker partitions per consumer and scan: one partition key takes about 1,000 write units a second. */
const BUCKETS = 16;
/** TransactWriteItems: at most 100 actions, and one of them is the counter slot. */
const MARKERS_PER_TRANSACTION = 99;
/**
 * How long a record's marker and the counters are kept: longer than a stream can keep a record
 * (365 days at most) and the failure queue a failure (14 days), so no late copy of a record
 * meets an expired marker and counts again. The head (total and event claim) never expires: a
 * head that outlived its counters would publish "Scan Processed" a second time.
 */
const KEEP_SECONDS = 400 * 24 * 3600;
/** Transactions cancelled by a concurrent one (or by markers already written) are sent again, with backoff. */
const ATTEMPTS = 10;
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 1_000;

type Item = Record<string, AttributeValue>;

/** A marker to write: a new one, or a failed one that is now processed. */
interface Change {
  readonly eventID: string;
  readonly kind: 'create' | 'convert';
  readonly keys?: Readonly<Record<string, unknown>>;
  readonly shardId?: string;
  readonly sequenceNumber?: string;
}

/**
 * The progress store on a DynamoDB table with partition key `pk` and sort key `sk` (both S),
 * TTL attribute `expiresAt`, and the sparse index `failed`. Per consumer and scan it keeps:
 * - a marker per record id (`<consumer>#<scan>#m<bucket>`, `<eventID>`), `s` = P or F;
 * - 16 counter slots (`<consumer>#<scan>`, `slot#<k>`): processed, failed, first and last time;
 * - the head (`<consumer>#<scan>`, `head`): the total, and the claim to publish "Scan Processed"
 *   (kept for good; markers and slots expire after 400 days).
 *
 * A marker and the count it adds are written in one transaction (`attribute_not_exists` on the
 * marker), so a record is counted exactly once whoever reports it again, and a crash between
 * two writes cannot lose or repeat a count. About 2 write units per record (a transactional
 * write costs two), $1.25 per million records on demand in us-east-1.
 */
export class DynamoDbProgressStore implements ProgressStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
  ) {}

  async markProcessed(
    consumer: string,
    scanId: string,
    eventIDs: readonly string[],
    at: number,
  ): Promise<number> {
    const changes = [...new Set(eventIDs)].map((eventID): Change => ({ eventID, kind: 'create' }));
    return this.count(consumer, scanId, changes, at, 'processed');
  }

  async markFailed(
    consumer: string,
    scanId: string,
    records: readonly Omit<FailedRecord, 'failedAt'>[],
    at: number,
  ): Promise<number> {
    const unique = new Map(records.map((r) => [r.eventID, r]));
    const changes = [...unique.values()].map((r): Change => ({ ...r, kind: 'create' }));
    return this.count(consumer, scanId, changes, at, 'failed');
  }

  async read(consumer: string, scanId: string): Promise<ProgressCounts> {
    const pk = headKey(consumer, scanId);
    let processed = 0;
    let failed = 0;
    let firstAt: number | null = null;
    let lastAt: number | null = null;
    let head: Item | undefined;
    const items = this.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: pk } },
      ConsistentRead: true,
    });
    for await (const item of items) {
      if (item.sk?.S === 'head') {
        head = item;
        continue;
      }
      processed += number(item.processed) ?? 0;
      failed += number(item.failed) ?? 0;
      const first = number(item.firstAt);
      const last = number(item.lastAt);
      if (first !== undefined) firstAt = firstAt === null ? first : Math.min(firstAt, first);
      if (last !== undefined) lastAt = lastAt === null ? last : Math.max(lastAt, last);
    }
    const event = head?.event?.M;
    return {
      total: number(head?.total) ?? null,
      processed,
      failed,
      firstAt,
      lastAt,
      event:
        event === undefined
          ? null
          : {
              holder: event.holder?.S ?? '',
              at: number(event.at) ?? 0,
              ...(event.outcome?.S === undefined
                ? {}
                : { outcome: event.outcome.S as CompletionEventOutcome }),
            },
    };
  }

  async setTotal(consumer: string, scanId: string, total: number): Promise<void> {
    await this.update(consumer, scanId, {
      UpdateExpression: 'SET #t = :t',
      // The same scan has one total: a second completion (a retried event) writes nothing new.
      ConditionExpression: 'attribute_not_exists(#t) OR #t = :t',
      ExpressionAttributeNames: { '#t': 'total' },
      ExpressionAttributeValues: { ':t': { N: String(total) } },
    });
  }

  async claimEvent(consumer: string, scanId: string, holder: string, at: number): Promise<boolean> {
    const refused = await this.update(consumer, scanId, {
      UpdateExpression: 'SET #e = :e',
      ConditionExpression: 'attribute_not_exists(#e)',
      ExpressionAttributeNames: { '#e': 'event' },
      ExpressionAttributeValues: { ':e': { M: { holder: { S: holder }, at: { N: String(at) } } } },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    if (refused === null) return true;
    // A claim the SDK sent again after its answer was lost meets itself: it is still ours.
    // (Read back when the refusal did not carry the item.)
    const claimed =
      refused.event === undefined
        ? (await this.read(consumer, scanId)).event?.holder
        : refused.event.M?.holder?.S;
    return claimed === holder;
  }

  async settleEvent(
    consumer: string,
    scanId: string,
    holder: string,
    outcome: CompletionEventOutcome | null,
  ): Promise<void> {
    await this.update(consumer, scanId, {
      UpdateExpression: outcome === null ? 'REMOVE #e' : 'SET #e.#o = :o',
      ConditionExpression: '#e.#h = :h',
      ExpressionAttributeNames: {
        '#e': 'event',
        '#h': 'holder',
        ...(outcome === null ? {} : { '#o': 'outcome' }),
      },
      ExpressionAttributeValues: {
        ':h': { S: holder },
        ...(outcome === null ? {} : { ':o': { S: outcome } }),
      },
    });
  }

  async listFailed(consumer: string, scanId: string, limit: number): Promise<FailedRecord[]> {
    const failed: FailedRecord[] = [];
    const items = this.query({
      IndexName: FAILED_INDEX,
      KeyConditionExpression: '#of = :f',
      ExpressionAttributeNames: { '#of': 'failedOf' },
      ExpressionAttributeValues: { ':f': { S: headKey(consumer, scanId) } },
      Limit: Math.min(1000, limit),
    });
    for await (const item of items) {
      failed.push({
        eventID: item.sk?.S ?? '',
        keys: JSON.parse(item.keys?.S ?? '{}') as Record<string, unknown>,
        failedAt: number(item.failedAt) ?? 0,
        ...(item.shardId?.S === undefined ? {} : { shardId: item.shardId.S }),
        ...(item.sequenceNumber?.S === undefined ? {} : { sequenceNumber: item.sequenceNumber.S }),
      });
      if (failed.length >= limit) break;
    }
    return failed;
  }

  /** Every item a Query finds, page after page. */
  private async *query(
    input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName' | 'ExclusiveStartKey'>,
  ): AsyncGenerator<Item> {
    let start: Item | undefined;
    do {
      const page = await this.call('Query', () =>
        this.client.send(new QueryCommand({ ...input, TableName: this.tableName, ExclusiveStartKey: start })),
      );
      yield* page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
  }

  /**
   * Writes the markers and their count, 99 markers a transaction. A transaction cancelled
   * because some markers were already written is sent again without them (or, for a failed
   * record that is now processed, as a conversion); one cancelled by a concurrent transaction
   * is sent again on another slot.
   */
  private async count(
    consumer: string,
    scanId: string,
    changes: readonly Change[],
    at: number,
    as: 'processed' | 'failed',
  ): Promise<number> {
    let counted = 0;
    for (let i = 0; i < changes.length; i += MARKERS_PER_TRANSACTION) {
      let pending = changes.slice(i, i + MARKERS_PER_TRANSACTION);
      for (let attempt = 0; pending.length > 0; attempt++) {
        const outcome = await this.transact(consumer, scanId, pending, at, as);
        if (outcome.kind === 'written') {
          counted += pending.length;
          break;
        }
        if (attempt + 1 >= ATTEMPTS) {
          throw new TransientError(
            `Counting ${pending.length} ${as} records of scan ${scanId} for ${consumer} was cancelled ${ATTEMPTS} times (${outcome.reason}).`,
          );
        }
        if (outcome.kind === 'conflict') {
          await this.clock.sleep(BACKOFF_BASE_MS + backoffDelay(attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS));
          continue;
        }
        const current = outcome.current ?? (await this.readMarkers(consumer, scanId, pending));
        pending = pending.flatMap((change, index) => {
          const next = nextChange(change, current[index], as);
          return next === null ? [] : [next];
        });
      }
    }
    return counted;
  }

  private async transact(
    consumer: string,
    scanId: string,
    changes: readonly Change[],
    at: number,
    as: 'processed' | 'failed',
  ): Promise<
    | { kind: 'written' }
    | { kind: 'conflict'; reason: string }
    /**
     * `current[i]`, when DynamoDB said: undefined when change i's condition held, else the marker
     * it met (null: none).
     */
    | { kind: 'markers-exist'; reason: string; current: (Item | null | undefined)[] | undefined }
  > {
    const head = headKey(consumer, scanId);
    const expiresAt = { N: String(this.expiry()) };
    const converted = changes.filter((c) => c.kind === 'convert').length;
    const markers = changes.map((change): TransactWriteItem => {
      const key = { pk: { S: markerKey(head, change.eventID) }, sk: { S: change.eventID } };
      if (change.kind === 'convert') {
        return {
          Update: {
            TableName: this.tableName,
            Key: key,
            UpdateExpression: 'SET #s = :p REMOVE #of, #at, #k, shardId, sequenceNumber',
            ConditionExpression: '#s = :f',
            ExpressionAttributeNames: { '#s': 's', '#of': 'failedOf', '#at': 'failedAt', '#k': 'keys' },
            ExpressionAttributeValues: { ':p': { S: 'P' }, ':f': { S: 'F' } },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        };
      }
      const item: Item =
        as === 'processed'
          ? { ...key, s: { S: 'P' }, expiresAt }
          : {
              ...key,
              s: { S: 'F' },
              failedOf: { S: head },
              failedAt: { N: String(at) },
              keys: { S: JSON.stringify(change.keys ?? {}) },
              ...(change.shardId === undefined ? {} : { shardId: { S: change.shardId } }),
              ...(change.sequenceNumber === undefined
                ? {}
                : { sequenceNumber: { S: change.sequenceNumber } }),
              expiresAt,
            };
      return {
        Put: {
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(sk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      };
    });
    const slot: TransactWriteItem = {
      Update: {
        TableName: this.tableName,
        Key: { pk: { S: head }, sk: { S: `slot#${Math.floor(this.random() * SLOTS)}` } },
        // PROCESSED and FAILED are reserved words: every name goes through a placeholder.
        UpdateExpression:
          as === 'processed'
            ? 'ADD #p :p, #f :f SET #last = :at, #first = if_not_exists(#first, :at), #exp = :exp'
            : 'ADD #f :f SET #exp = :exp',
        ExpressionAttributeNames: {
          ...(as === 'processed' ? { '#p': 'processed', '#last': 'lastAt', '#first': 'firstAt' } : {}),
          '#f': 'failed',
          '#exp': 'expiresAt',
        },
        ExpressionAttributeValues: {
          ...(as === 'processed'
            ? {
                ':p': { N: String(changes.length) },
                ':f': { N: String(-converted) },
                ':at': { N: String(at) },
              }
            : { ':f': { N: String(changes.length) } }),
          ':exp': expiresAt,
        },
      },
    };
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: [...markers, slot] }));
      return { kind: 'written' };
    } catch (error) {
      if ((error as Error | null)?.name !== 'TransactionCanceledException') {
        throw translateAwsError(error, `TransactWriteItems on ${this.tableName}`);
      }
      const reasons = (error as { CancellationReasons?: { Code?: string; Item?: Item }[] })
        .CancellationReasons;
      const codes = (reasons ?? []).map((r) => r.Code ?? 'None').filter((code) => code !== 'None');
      const reason = codes.length > 0 ? [...new Set(codes)].join(', ') : (error as Error).message;
      if (codes.some((code) => code !== 'ConditionalCheckFailed')) return { kind: 'conflict', reason };
      // No reasons (not every SDK fills them in): the markers are read back.
      const current =
        reasons === undefined || reasons.length !== markers.length + 1
          ? undefined
          : reasons
              .slice(0, markers.length)
              .map((r) => (r.Code === 'ConditionalCheckFailed' ? (r.Item ?? null) : undefined));
      return { kind: 'markers-exist', reason, current };
    }
  }

  /** Each change's marker as it is now (a consistent read), null where there is none. */
  private async readMarkers(
    consumer: string,
    scanId: string,
    changes: readonly Change[],
  ): Promise<(Item | null)[]> {
    const head = headKey(consumer, scanId);
    const found = new Map<string, Item>();
    let keys: Item[] = changes.map((c) => ({ pk: { S: markerKey(head, c.eventID) }, sk: { S: c.eventID } }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > 0) await this.clock.sleep(backoffDelay(attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS));
      const output = await this.call('BatchGetItem', () =>
        this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        ),
      );
      for (const item of output.Responses?.[this.tableName] ?? []) found.set(item.sk?.S ?? '', item);
      keys = output.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
    }
    return changes.map((c) => found.get(c.eventID) ?? null);
  }

  /** An update of the head; null when it was written, the item as it was when its condition failed. */
  private async update(
    consumer: string,
    scanId: string,
    input: Omit<ConstructorParameters<typeof UpdateItemCommand>[0], 'TableName' | 'Key'>,
  ): Promise<Item | null> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: headKey(consumer, scanId) }, sk: { S: 'head' } },
          ...input,
        }),
      );
      return null;
    } catch (error) {
      if ((error as Error | null)?.name === 'ConditionalCheckFailedException') {
        return (error as { Item?: Item }).Item ?? {};
      }
      throw translateAwsError(error, `UpdateItem on ${this.tableName}`);
    }
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw translateAwsError(error, `${operation} on ${this.tableName}`);
    }
  }

  private expiry(): number {
    return Math.floor(this.clock.now() / 1000) + KEEP_SECONDS;
  }
}

/**
 * What to write next for a change of a cancelled transaction, from its marker as found:
 * `undefined` when its own condition held (it is sent again as it was), null when there is no
 * marker. Nothing when the record is already counted as processed (or, for a failure, counted
 * at all); a conversion when a processed record was counted as failed; a new marker when a
 * failed one has gone.
 */
function nextChange(
  change: Change,
  found: Item | null | undefined,
  as: 'processed' | 'failed',
): Change | null {
  if (found === undefined) return change;
  if (found === null || found.s === undefined) return { ...change, kind: 'create' };
  if (as === 'failed') return null;
  return found.s.S === 'F' ? { eventID: change.eventID, kind: 'convert' } : null;
}

function headKey(consumer: string, scanId: string): string {
  return `${consumer}#${scanId}`;
}

/** Record ids are hex hashes: their first digit spreads the markers over 16 partitions. */
function markerKey(head: string, eventID: string): string {
  const digit = Number.parseInt(eventID.charAt(0), 16);
  const bucket = Number.isNaN(digit) ? (eventID.charCodeAt(0) || 0) % BUCKETS : digit % BUCKETS;
  return `${head}#m${bucket}`;
}

function number(value: AttributeValue | undefined): number | undefined {
  return value?.N === undefined ? undefined : Number(value.N);
}
