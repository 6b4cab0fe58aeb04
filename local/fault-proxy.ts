import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LocalTransactions } from './dynamodb-transactions';
import type { FaultInjector, PutEntry, ServiceCall } from './faults';
import { close, listen, readBody, sendJson } from './http';

/**
 * An HTTP forwarder in front of an emulator (dynalite, kinesalite) for the JSON protocols, where
 * the fault injector can answer with an error, kill the calling invocation, or fail chosen
 * PutRecords entries (only the others are written, as Kinesis does).
 */
export class FaultProxy {
  private server: Server | undefined;
  /** dynalite has no TransactWriteItems: the proxy serves it. */
  private transactions: LocalTransactions | undefined;

  constructor(
    private readonly service: ServiceCall['service'],
    private readonly upstream: string,
    private readonly faults: FaultInjector,
  ) {}

  async start(port = 0): Promise<string> {
    const { server, url } = await listen((req, res) => this.handle(req, res), port);
    this.server = server;
    return url;
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
    this.transactions?.destroy();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    await this.faults.delay();
    const operation =
      String(request.headers['x-amz-target'] ?? '')
        .split('.')
        .at(-1) ?? '';
    const input = parse(body);
    const fault = this.faults.decide(this.service, operation, input, request.headers['user-agent']);
    const action = fault?.action;
    if (action?.kind === 'kill' && action.when === 'before') {
      this.faults.kill(fault?.container);
      return void response.destroy();
    }
    if (action?.kind === 'error') {
      const type =
        this.service === 'dynamodb' ? `com.amazonaws.dynamodb.v20120810#${action.name}` : action.name;
      return sendJson(
        response,
        400,
        { __type: type, message: action.message ?? action.name },
        {
          'content-type': String(request.headers['content-type'] ?? 'application/x-amz-json-1.1'),
        },
      );
    }
    if (action?.kind === 'fail-entries' && operation === 'PutRecords')
      return this.putSome(request, response, input, action.errorFor);
    if (this.service === 'dynamodb' && operation === 'TransactWriteItems') {
      this.transactions ??= new LocalTransactions(this.upstream);
      const answer = await this.transactions.transactWrite(input);
      if (action?.kind === 'kill') {
        this.faults.kill(fault?.container);
        return void response.destroy();
      }
      return sendJson(response, answer.status, answer.body, DYNAMODB_JSON);
    }
    const forwarded =
      this.service === 'dynamodb' && operation === 'Scan' ? scanWithinDynalite(input, body) : body;
    if (forwarded === null) return sendJson(response, 200, emptyScan(input), DYNAMODB_JSON);
    const upstream = await this.forward(request, forwarded);
    if (action?.kind === 'kill') {
      this.faults.kill(fault?.container);
      return void response.destroy();
    }
    response.writeHead(upstream.status, upstream.headers);
    response.end(upstream.body);
  }

  /** Writes only the entries that do not fail, and answers like Kinesis: 200 with per-entry errors. */
  private async putSome(
    request: IncomingMessage,
    response: ServerResponse,
    input: Record<string, unknown>,
    errorFor: (index: number, entry: PutEntry) => string | undefined,
  ): Promise<void> {
    const records = (Array.isArray(input.Records) ? input.Records : []) as {
      PartitionKey?: string;
      Data?: string;
    }[];
    const errors = records.map((record, i) => {
      const partitionKey = String(record.PartitionKey ?? '');
      const bytes = Buffer.byteLength(String(record.Data ?? ''), 'base64') + Buffer.byteLength(partitionKey);
      return errorFor(i, { partitionKey, bytes });
    });
    const kept = records.filter((_, i) => errors[i] === undefined);
    let written: unknown[] = [];
    if (kept.length > 0) {
      const upstream = await this.forward(request, Buffer.from(JSON.stringify({ ...input, Records: kept })));
      if (upstream.status !== 200) {
        response.writeHead(upstream.status, upstream.headers);
        return void response.end(upstream.body);
      }
      written = (parse(upstream.body).Records as unknown[] | undefined) ?? [];
    }
    let next = 0;
    const results = errors.map((code) =>
      code === undefined ? written[next++] : { ErrorCode: code, ErrorMessage: `${code} (injected)` },
    );
    sendJson(
      response,
      200,
      { FailedRecordCount: errors.filter((e) => e !== undefined).length, Records: results },
      {
        'content-type': 'application/x-amz-json-1.1',
      },
    );
  }

  private forward(
    request: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const url = new URL(request.url ?? '/', this.upstream);
    return new Promise((resolve, reject) => {
      const outbound = httpRequest(
        url,
        {
          method: request.method,
          headers: { ...request.headers, host: url.host, 'content-length': body.byteLength },
        },
        (answer) => {
          readBody(answer).then(
            (data) => resolve({ status: answer.statusCode ?? 500, headers: answer.headers, body: data }),
            reject,
          );
        },
      );
      outbound.on('error', reject);
      outbound.end(body);
    });
  }
}

const DYNAMODB_JSON = { 'content-type': 'application/x-amz-json-1.0' };
/** dynalite hashes keys into 4,096 buckets; past 4,096 its parallel-scan segments overlap. */
const DYNALITE_BUCKETS = 4096;

/**
 * A Scan as dynalite can serve it. DynamoDB splits a table into up to 1,000,000 segments, each
 * item in exactly one; dynalite's segments overlap beyond 4,096 (with 10,000 segments it returns
 * every item three times). Beyond 4,096, segment s of T is given the one bucket b it covers
 * (floor(b · T / 4096) = s), as segment b of 4,096, and a segment that covers no bucket is empty
 * (null). Below, the request goes through unchanged.
 */
function scanWithinDynalite(input: Record<string, unknown>, body: Buffer): Buffer | null {
  const { Segment: segment, TotalSegments: total } = input;
  if (typeof segment !== 'number' || typeof total !== 'number' || total <= DYNALITE_BUCKETS) return body;
  const bucket = Math.ceil((segment * DYNALITE_BUCKETS) / total);
  if (bucket >= DYNALITE_BUCKETS || Math.floor((bucket * total) / DYNALITE_BUCKETS) !== segment) return null;
  return Buffer.from(JSON.stringify({ ...input, Segment: bucket, TotalSegments: DYNALITE_BUCKETS }));
}

/** A Scan page of a segment that holds no item. */
function emptyScan(input: Record<string, unknown>): Record<string, unknown> {
  const capacity =
    input.ReturnConsumedCapacity === 'TOTAL' || input.ReturnConsumedCapacity === 'INDEXES'
      ? { ConsumedCapacity: { TableName: input.TableName, CapacityUnits: 0.5 } }
      : {};
  return { Count: 0, ScannedCount: 0, Items: [], ...capacity };
}

function parse(body: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body.toString('utf8') || '{}');
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
