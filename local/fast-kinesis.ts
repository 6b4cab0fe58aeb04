import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { parentPort, Worker } from 'node:worker_threads';
import { listen, readBody, sendJson } from './http';
import { ShardLimits } from './shard-limits';

/** What a stream took: records accepted, the distinct scan records among them (by eventID), calls. */
export interface Delivered {
  readonly records: number;
  readonly distinct: number;
  readonly putRecordsCalls: number;
  /** Entries failed with ProvisionedThroughputExceededException. */
  readonly throttled: number;
}

/** Messages the bench sends the stand-in's thread. */
export type FastKinesisRequest =
  | { readonly type: 'latency'; readonly ms: number }
  | { readonly type: 'delivered'; readonly id: number; readonly streamName: string };

interface Stream {
  readonly shards: number;
  readonly limits: ShardLimits;
  records: number;
  calls: number;
  readonly eventIds: Set<string>;
}

const JSON_11 = { 'content-type': 'application/x-amz-json-1.1' };
const EVENT_ID = '"eventID":"';

/**
 * The benchmark's fast Kinesis: the Kinesis Data Streams calls the scanner makes (CreateStream,
 * DescribeStreamSummary, PutRecords), answered from memory after a fixed latency, with
 * Kinesis's per-shard write limits (`ShardLimits`: 1,000 records/s and 1 MiB/s per shard by
 * the MD5 of the partition key, excess entries failed). It keeps no records, only how many a
 * stream took and their distinct eventIDs, so it absorbs far more than kinesalite, which stores
 * every record on one thread and is the ceiling of a fast chain. It runs in a worker thread
 * (`fast-kinesis-worker.cjs`), as a separate service would.
 */
export class FastKinesis {
  private readonly streams = new Map<string, Stream>();
  latencyMs = 0;

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = JSON.parse((await readBody(request)).toString('utf8') || '{}') as Record<string, unknown>;
    const operation = String(request.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    const name = String(body.StreamName ?? '');
    const stream = this.streams.get(name);
    if (operation === 'CreateStream') {
      const shards = Number(body.ShardCount ?? 1);
      this.streams.set(name, {
        shards,
        limits: new ShardLimits(shards),
        records: 0,
        calls: 0,
        eventIds: new Set(),
      });
      return sendJson(response, 200, {}, JSON_11);
    }
    if (stream === undefined) {
      return sendJson(
        response,
        400,
        { __type: 'ResourceNotFoundException', message: `Stream ${name} not found` },
        JSON_11,
      );
    }
    if (operation === 'DescribeStreamSummary') {
      return sendJson(
        response,
        200,
        {
          StreamDescriptionSummary: {
            StreamName: name,
            StreamStatus: 'ACTIVE',
            StreamModeDetails: { StreamMode: 'PROVISIONED' },
            OpenShardCount: stream.shards,
            RetentionPeriodHours: 24,
          },
        },
        JSON_11,
      );
    }
    if (operation === 'PutRecords') return sendJson(response, 200, this.putRecords(stream, body), JSON_11);
    return sendJson(
      response,
      400,
      { __type: 'InvalidArgumentException', message: `${operation} is not served here` },
      JSON_11,
    );
  }

  delivered(streamName: string): Delivered {
    const stream = this.streams.get(streamName);
    return {
      records: stream?.records ?? 0,
      distinct: stream?.eventIds.size ?? 0,
      putRecordsCalls: stream?.calls ?? 0,
      throttled: stream?.limits.throttled ?? 0,
    };
  }

  private putRecords(stream: Stream, body: Record<string, unknown>): unknown {
    const entries = (body.Records ?? []) as { Data: string; PartitionKey: string }[];
    let failed = 0;
    stream.calls++;
    const results = entries.map((entry) => {
      const bytes = Buffer.byteLength(entry.Data, 'base64') + Buffer.byteLength(entry.PartitionKey);
      const error = stream.limits.admit({ partitionKey: entry.PartitionKey, bytes });
      if (error !== undefined) {
        failed++;
        return { ErrorCode: error, ErrorMessage: 'Rate exceeded for shard.' };
      }
      stream.records++;
      // A scan record's eventID is among its first fields: decode only the head of its data.
      const head = Buffer.from(entry.Data.slice(0, 160), 'base64').toString('latin1');
      const at = head.indexOf(EVENT_ID);
      if (at !== -1) stream.eventIds.add(head.slice(at + EVENT_ID.length, at + EVENT_ID.length + 32));
      // The scanner reads neither; a real answer carries the entry's shard and sequence number.
      return { SequenceNumber: String(stream.records).padStart(20, '0'), ShardId: 'shardId-000000000000' };
    });
    return { FailedRecordCount: failed, Records: results };
  }
}

/** The worker thread's side: listens, posts its port, and answers the bench's messages. */
export async function runFastKinesisWorker(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('runFastKinesisWorker runs in a worker thread');
  const kinesis = new FastKinesis();
  const { url } = await listen((request, response) => kinesis.handle(request, response), 0);
  port.on('message', (message: FastKinesisRequest) => {
    if (message.type === 'latency') kinesis.latencyMs = message.ms;
    else port.postMessage({ id: message.id, delivered: kinesis.delivered(message.streamName) });
  });
  port.postMessage({ url });
}

/** The bench's handle on the fast Kinesis thread. */
export interface FastKinesisThread {
  /** Its endpoint, for AWS_ENDPOINT_URL_KINESIS. */
  readonly url: string;
  setLatency(ms: number): void;
  delivered(streamName: string): Promise<Delivered>;
  utilization(since?: EventLoopUtilization): EventLoopUtilization;
  stop(): Promise<void>;
}

export async function startFastKinesis(): Promise<FastKinesisThread> {
  const worker = new Worker(join(__dirname, 'fast-kinesis-worker.cjs'));
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  let requests = 0;
  const waiting = new Map<
    number,
    { resolve: (delivered: Delivered) => void; reject: (error: Error) => void }
  >();
  worker.on('message', (message: { id?: number; delivered?: Delivered }) => {
    if (message.id === undefined || message.delivered === undefined) return;
    waiting.get(message.id)?.resolve(message.delivered);
    waiting.delete(message.id);
  });
  // A stand-in that died answers no question: every one waiting, and every later one, is told so.
  let died: Error | undefined;
  const fail = (error: Error) => {
    died ??= error;
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`The fast Kinesis thread exited with code ${code}`)));
  const send = (message: FastKinesisRequest) => worker.postMessage(message);
  return {
    url,
    setLatency: (ms) => send({ type: 'latency', ms }),
    delivered: (streamName) =>
      new Promise((resolve, reject) => {
        if (died !== undefined) return reject(died);
        const id = ++requests;
        waiting.set(id, { resolve, reject });
        send({ type: 'delivered', id, streamName });
      }),
    utilization: (since) => worker.performance.eventLoopUtilization(since),
    stop: async () => {
      await worker.terminate();
    },
  };
}
