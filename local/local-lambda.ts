import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { close, listen, readBody, sendJson } from './http';

/** Lambda: async (Event) payloads up to 1 MB (older documentation says 256 KB); sync 6 MB. */
const MAX_EVENT_PAYLOAD = 1024 * 1024;
const MAX_SYNC_PAYLOAD = 6 * 1024 * 1024;

/** The Lambda context as the local endpoint provides it. */
export interface LocalContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

export type LocalHandler = (event: unknown, context: LocalContext) => Promise<unknown>;

export interface LocalLambdaOptions {
  /**
   * Delays before the retries of a failed async event.
   * @default [1000, 2000]: Lambda retries twice, after about 1 and 2 minutes; scaled down here.
   */
  readonly asyncRetryDelaysMs?: readonly number[];
  /** Deliver every async event twice, as Lambda's at-least-once queue may. @default false */
  readonly duplicateDelivery?: boolean;
}

export interface LocalLambdaStats {
  /** Handler invocations, sync and async, retries included. */
  invocations: number;
  /** Async events accepted (202). */
  events: number;
  errors: number;
  timeouts: number;
  retries: number;
  duplicates: number;
  /** Async events that failed every attempt (in AWS they go to the on-failure destination). */
  dropped: number;
}

interface LocalFunction {
  readonly name: string;
  readonly handler: LocalHandler;
  readonly timeoutMs: number;
}

type Outcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string };

/**
 * A local Lambda Invoke endpoint (REST-JSON, `POST /2015-03-31/functions/{name}/invocations`).
 * Handlers run in this process. RequestResponse answers with the result or an `Unhandled`
 * function error; Event answers 202 and delivers later, retrying failed events twice and
 * optionally delivering each one twice. A function's timeout is enforced through
 * `getRemainingTimeInMillis` and by failing the invocation when it is exceeded; unlike in AWS
 * the handler's promise cannot be frozen, so it runs on until it settles.
 */
export class LocalLambda {
  private readonly functions = new Map<string, LocalFunction>();
  private readonly retryDelays: readonly number[];
  private readonly duplicateDelivery: boolean;
  private server: Server | undefined;
  private busy = 0;
  private waiters: (() => void)[] = [];
  private readonly region: string;
  readonly stats: LocalLambdaStats = {
    invocations: 0,
    events: 0,
    errors: 0,
    timeouts: 0,
    retries: 0,
    duplicates: 0,
    dropped: 0,
  };
  /** Errors of failed invocations, newest last (bounded). */
  readonly recentErrors: string[] = [];

  constructor(options: LocalLambdaOptions = {}, region = 'us-east-1') {
    this.retryDelays = options.asyncRetryDelaysMs ?? [1000, 2000];
    this.duplicateDelivery = options.duplicateDelivery ?? false;
    this.region = region;
  }

  register(name: string, handler: LocalHandler, options: { timeoutMs: number }): void {
    this.functions.set(name, { name, handler, timeoutMs: options.timeoutMs });
  }

  async start(port = 0): Promise<string> {
    const { server, url } = await listen((req, res) => this.handle(req, res), port);
    this.server = server;
    return url;
  }

  async stop(): Promise<void> {
    await this.idle();
    if (this.server) await close(this.server);
  }

  /** Resolves when no event is queued, waiting for a retry, or running. */
  idle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(request.url?.split('?')[0] ?? '');
    if (request.method !== 'POST' || !match?.[1]) {
      return sendError(
        response,
        404,
        'UnknownOperationException',
        `${request.method} ${request.url} is not supported by the local Lambda.`,
      );
    }
    const requested = decodeURIComponent(match[1]);
    const fn = this.functions.get(requested.split(':').at(requested.startsWith('arn:') ? 6 : 0) ?? requested);
    if (!fn) {
      return sendError(
        response,
        404,
        'ResourceNotFoundException',
        `Function not found: ${this.arn(requested)}`,
      );
    }
    const body = await readBody(request);
    const type = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (body.byteLength > (type === 'Event' ? MAX_EVENT_PAYLOAD : MAX_SYNC_PAYLOAD)) {
      return sendError(
        response,
        413,
        'RequestTooLargeException',
        `Request must be smaller than ${type === 'Event' ? MAX_EVENT_PAYLOAD : MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation`,
      );
    }
    let event: unknown;
    try {
      event = body.byteLength === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(
        response,
        400,
        'InvalidRequestContentException',
        'Could not parse request body into json',
      );
    }
    switch (type) {
      case 'Event':
        this.stats.events++;
        this.enqueue(fn, event, 0);
        if (this.duplicateDelivery) {
          this.stats.duplicates++;
          this.enqueue(fn, event, 0);
        }
        return sendJson(response, 202, undefined);
      case 'DryRun':
        return sendJson(response, 204, undefined);
      case 'RequestResponse': {
        this.begin();
        try {
          const outcome = await this.run(fn, event);
          const headers = { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' };
          if (outcome.ok) return sendJson(response, 200, outcome.result ?? null, headers);
          return sendJson(
            response,
            200,
            { errorType: outcome.errorType, errorMessage: outcome.errorMessage, trace: [] },
            { ...headers, 'x-amz-function-error': 'Unhandled' },
          );
        } finally {
          this.end();
        }
      }
      default:
        return sendError(
          response,
          400,
          'InvalidParameterValueException',
          `Unsupported invocation type ${JSON.stringify(type)}.`,
        );
    }
  }

  private enqueue(fn: LocalFunction, event: unknown, attempt: number): void {
    this.begin();
    const delay = attempt === 0 ? 0 : (this.retryDelays[attempt - 1] ?? 0);
    setTimeout(() => {
      this.run(fn, event)
        .then((outcome) => {
          if (outcome.ok) return;
          if (attempt < this.retryDelays.length) {
            this.stats.retries++;
            this.enqueue(fn, event, attempt + 1);
          } else {
            this.stats.dropped++;
          }
        })
        .finally(() => this.end());
    }, delay);
  }

  private async run(fn: LocalFunction, event: unknown): Promise<Outcome> {
    this.stats.invocations++;
    const startedAt = Date.now();
    const context: LocalContext = {
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.arn(fn.name),
      memoryLimitInMB: '1024',
      awsRequestId: randomUUID(),
      getRemainingTimeInMillis: () => Math.max(0, startedAt + fn.timeoutMs - Date.now()),
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        this.stats.timeouts++;
        resolve({
          ok: false,
          errorType: 'Sandbox.Timedout',
          errorMessage: `Task timed out after ${(fn.timeoutMs / 1000).toFixed(2)} seconds`,
        });
      }, fn.timeoutMs);
    });
    // Round-trip through JSON, as Lambda serializes events and results.
    const execution = Promise.resolve()
      .then(() => fn.handler(structuredClone(event), context))
      .then(
        (result): Outcome => ({
          ok: true,
          result: result === undefined ? null : JSON.parse(JSON.stringify(result)),
        }),
        (error: unknown): Outcome => ({
          ok: false,
          errorType: error instanceof Error ? error.name : 'Error',
          errorMessage: error instanceof Error ? error.message : String(error),
        }),
      );
    // A timed-out handler still counts as busy until it settles, so `idle()` waits for it.
    this.begin();
    void execution.finally(() => this.end());
    const outcome = await Promise.race([execution, timeout]);
    clearTimeout(timer);
    if (!outcome.ok) {
      this.stats.errors++;
      this.recentErrors.push(`${outcome.errorType}: ${outcome.errorMessage}`);
      if (this.recentErrors.length > 20) this.recentErrors.shift();
    }
    return outcome;
  }

  private arn(name: string): string {
    return name.startsWith('arn:') ? name : `arn:aws:lambda:${this.region}:000000000000:function:${name}`;
  }

  private begin(): void {
    this.busy++;
  }

  private end(): void {
    this.busy--;
    if (this.busy === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

function sendError(response: ServerResponse, status: number, type: string, message: string): void {
  sendJson(
    response,
    status,
    { Type: 'User', message },
    { 'x-amzn-errortype': type, 'content-type': 'application/json' },
  );
}
