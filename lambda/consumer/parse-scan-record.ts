import type { KinesisStreamRecord } from 'aws-lambda';
import { RecordFormat, type ScanRecordMetadata } from '../contract';
import { type AttributeMap, fromJsonMap } from '../core/attribute-value';

/** A record written by the scanner, decoded. */
export type ScanStreamRecord =
  | {
      readonly format: typeof RecordFormat.dynamodbStream;
      /** Deterministic for (scan, item): the key to deduplicate on. */
      readonly eventID: string;
      readonly tableName: string;
      readonly scan: ScanRecordMetadata;
      /** The item's key, typed (binary as Uint8Array), as `@aws-sdk/util-dynamodb` unmarshalls it. */
      readonly keys: AttributeMap;
      /** The whole item, typed and lossless. */
      readonly newImage: AttributeMap;
    }
  | {
      readonly format: typeof RecordFormat.item;
      readonly eventID: string;
      readonly tableName: string;
      readonly scan: ScanRecordMetadata;
      /** The item's key as plain JSON. */
      readonly keys: Readonly<Record<string, unknown>>;
      /** The item as plain JSON (numbers as numbers, sets as arrays, binary as base64). */
      readonly item: Readonly<Record<string, unknown>>;
    };

/** The record is not one the scanner wrote: a live change, or something else on the stream. */
export class NotAScanRecordError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NotAScanRecordError';
  }
}

/**
 * Decodes a record of a Kinesis Lambda event (or its raw data) written by the scanner, in
 * either record format. Throws NotAScanRecordError, saying why, for anything else: a live
 * change from Kinesis Data Streams for DynamoDB has no `scan` block, so a consumer that sees
 * both can tell them apart with `isScanRecord`.
 *
 * @example
 * import { unmarshall } from '@aws-sdk/util-dynamodb';
 * for (const record of event.Records) {
 *   const scanned = parseScanRecord(record);
 *   if (scanned.format === 'dynamodb-stream') await index(unmarshall(scanned.newImage as never, { wrapNumbers: true }));
 * }
 */
export function parseScanRecord(record: KinesisStreamRecord | Uint8Array): ScanStreamRecord {
  const where = record instanceof Uint8Array ? 'The record' : `Record ${record.kinesis.sequenceNumber}`;
  const data =
    record instanceof Uint8Array ? Buffer.from(record) : Buffer.from(record.kinesis.data, 'base64');
  let body: unknown;
  try {
    body = JSON.parse(data.toString('utf8'));
  } catch (error) {
    throw new NotAScanRecordError(`${where} is not a scanner record: its data is not JSON.`, {
      cause: error,
    });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new NotAScanRecordError(`${where} is not a scanner record: its data is not a JSON object.`);
  }
  const fields = body as Record<string, unknown>;
  const scan = scanMetadata(fields.scan);
  if (scan === undefined) {
    const live = fields.eventSource === 'aws:dynamodb' ? ' (it looks like a live change record)' : '';
    throw new NotAScanRecordError(`${where} is not a scanner record: it has no valid "scan" block${live}.`);
  }
  const eventID = text(fields.eventID, where, 'eventID');
  const tableName = text(fields.tableName, where, 'tableName');
  try {
    if ('item' in fields) {
      return {
        format: RecordFormat.item,
        eventID,
        tableName,
        scan,
        keys: object(fields.keys, 'keys'),
        item: object(fields.item, 'item'),
      };
    }
    const image = object(fields.dynamodb, 'dynamodb');
    return {
      format: RecordFormat.dynamodbStream,
      eventID,
      tableName,
      scan,
      keys: fromJsonMap(image.Keys, 'dynamodb.Keys'),
      newImage: fromJsonMap(image.NewImage, 'dynamodb.NewImage'),
    };
  } catch (error) {
    throw new NotAScanRecordError(
      `${where} is not a valid scanner record: ${error instanceof Error ? error.message : String(error)}.`,
      {
        cause: error,
      },
    );
  }
}

/** True when the record was written by the scanner (a backfill), false for anything else. */
export function isScanRecord(record: KinesisStreamRecord | Uint8Array): boolean {
  try {
    parseScanRecord(record);
    return true;
  } catch (error) {
    if (error instanceof NotAScanRecordError) return false;
    throw error;
  }
}

function scanMetadata(value: unknown): ScanRecordMetadata | undefined {
  const scan = value as Partial<ScanRecordMetadata> | null | undefined;
  if (
    typeof scan?.scanId !== 'string' ||
    typeof scan.segment !== 'number' ||
    typeof scan.scannedAt !== 'number'
  ) {
    return undefined;
  }
  return { scanId: scan.scanId, segment: scan.segment, scannedAt: scan.scannedAt };
}

function text(value: unknown, where: string, field: string): string {
  if (typeof value !== 'string')
    throw new NotAScanRecordError(`${where} is not a valid scanner record: ${field} is missing.`);
  return value;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TypeError(`${field} is not an object`);
  return value as Record<string, unknown>;
}
