import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ContainerControl, FaultInjector } from './faults';
import { close, listen, readBody, sendJson } from './http';
import { LocalLogs } from './local-logs';

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

/** A handler that runs in worker-thread containers, so an invocation can be killed for real. */
export interface IsolatedHandler {
  /** Absolute path of the module (TypeScript is loaded through tsx). */
  readonly modulePath: string;
  readonly exportName: string;
  /** The container's environment, added to this process's. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface LocalLambdaOptions {
  /**
   * Delays before the retries of a failed async event.
   * @default [1000, 2000]: Lambda retries twice, after about 1 and 2 minutes; scaled down here.
   */
  readonly asyncRetryDelaysMs?: readonly number[];
  /** Deliver every async event twice, as Lambda's at-least-once queue may. @default false */
  readonly duplicateDelivery?: boolean;
  /**
   * Deliver this share (0 to 1) of async events a second time, a random delay of up to
   * `duplicateMaxDelayMs` after the event is accepted. Not with `duplicateDelivery: true`.
   * @default 0 - no event is delivered twice, unless `duplicateDelivery` is set
   */
  readonly duplicateFraction?: number;
  /** Longest delay of a `duplicateFraction` duplicate after its first delivery. @default 2000 */
  readonly duplicateMaxDelayMs?: number;
  /**
   * Random numbers in [0, 1) for choosing duplicates and their delays; pass a seeded generator
   * (`mulberry32(seed)` from `./demo-data`) for a repeatable choice.
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Invocations of one function that may run at once, as its reserved concurrency. Beyond it a
   * RequestResponse invoke is refused with 429 TooManyRequestsException, and an Event invoke is
   * accepted and waits for a free slot, as Lambda's async queue retries throttled events (for
   * up to 6 hours) without counting an attempt.
   * @default - no limit
   */
  readonly concurrency?: number;
  /**
   * Print what in-process handlers write, besides keeping it in their log group (`logs`).
   * @default true
   */
  readonly echoLogs?: boolean;
}

export interface LocalLambdaStats {
  /** Handler invocations, sync and async, retries included. */
  invocations: number;
  /** Async events accepted (202). */
  events: number;
  errors: number;
  timeouts: number;
  /** Invocations killed by fault injection. */
  kills: number;
  retries: number;
  duplicates: number;
  /** Async events that failed every attempt (in AWS they go to the on-failure destination). */
  dropped: number;
  /** The most invocations of one function that ran at once (the `concurrency` limit caps it). */
  peakConcurrency: number;
  /** RequestResponse invokes refused for concurrency, plus async deliveries that had to wait. */
  throttled: number;
}

interface Container {
  readonly id: string;
  readonly worker: Worker;
  /** Resolves once the handler module is loaded (Lambda's init phase). */
  readonly ready: Promise<void>;
  event: unknown;
  settle: ((outcome: Outcome) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  dead: boolean;
}

type LocalFunction =
  | {
      readonly kind: 'in-process';
      readonly name: string;
      readonly timeoutMs: number;
      readonly handler: LocalHandler;
    }
  | {
      readonly kind: 'isolated';
      readonly name: string;
      readonly timeoutMs: number;
      readonly handler: IsolatedHandler;
      readonly idle: Container[];
    };

type Outcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string };

const WORKER = join(__dirname, 'lambda-worker.cjs');

/** An invocation's log: where its lines go, whether they are printed too, and a line not ended yet. */
interface InvocationLog {
  readonly log: (line: string) => void;
  readonly echo: boolean;
  partial: string;
}

/** The invocation whose code is running, for the log lines it writes. */
const invocationLog = new AsyncLocalStorage<InvocationLog>();
let capturing = false;

/**
 * Routes what in-process handlers write to stdout and stderr (Powertools' log lines) to their
 * invocation's log as well, as Lambda sends a function's output to CloudWatch Logs. Installed
 * once and never removed: outside an invocation every write passes as it is.
 */
function captureWrites(): void {
  if (capturing) return;
  capturing = true;
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const invocation = invocationLog.getStore();
      if (invocation !== undefined) {
        const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(encoding);
        const lines = `${invocation.partial}${text}`.split('\n');
        invocation.partial = lines.pop() ?? '';
        for (const line of lines) if (line !== '') invocation.log(line);
        if (!invocation.echo) {
          // Kept, not printed: a write callback still hears that the write is done.
          const done = rest.find((arg): arg is (error?: Error | null) => void => typeof arg === 'function');
          if (done !== undefined) queueMicrotask(() => done(null));
          return true;
        }
      }
      return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** How many invocations of a function run now, and the async deliveries waiting for a slot. */
interface Slots {
  running: number;
  readonly waiting: (() => void)[];
}

/**
 * A local Lambda Invoke endpoint (REST-JSON, `POST /2015-03-31/functions/{name}/invocations`).
 * RequestResponse answers with the result or an `Unhandled` function error; Event answers 202
 * and delivers later, retrying failed events twice and optionally delivering all or some of them
 * twice. An optional concurrency limit throttles as a function's reserved concurrency does.
 *
 * Handlers run either in this process (fast; a timed-out handler cannot be frozen and runs on)
 * or isolated in worker-thread containers reused like Lambda execution environments, where a
 * timeout or an injected fault terminates the invocation for real.
 *
 * @example
 * const lambda = new LocalLambda({ concurrency: 10, duplicateFraction: 0.01 });
 * lambda.register('scanner', handler, { timeoutMs: 900_000 });
 * const endpoint = await lambda.start();
 */
export class LocalLambda implements ContainerControl {
  private readonly functions = new Map<string, LocalFunction>();
  private readonly containers = new Map<string, Container>();
  private readonly retryDelays: readonly number[];
  private readonly duplicateDelivery: boolean;
  private readonly duplicateFraction: number;
  private readonly duplicateMaxDelayMs: number;
  private readonly random: () => number;
  private readonly concurrency: number | undefined;
  private readonly slots = new Map<string, Slots>();
  private server: Server | undefined;
  private busy = 0;
  private containerCount = 0;
  private waiters: (() => void)[] = [];
  readonly stats: LocalLambdaStats = {
    invocations: 0,
    events: 0,
    errors: 0,
    timeouts: 0,
    kills: 0,
    retries: 0,
    duplicates: 0,
    dropped: 0,
    peakConcurrency: 0,
    throttled: 0,
  };
  /** Errors of failed invocations, newest last (bounded). */
  readonly recentErrors: string[] = [];
  /** What in-process invocations wrote, and the platform's lines, by log group `/aws/lambda/<name>`. */
  readonly logs = new LocalLogs();
  private readonly echoLogs: boolean;

  constructor(
    options: LocalLambdaOptions = {},
    private readonly region = 'us-east-1',
    private readonly faults?: FaultInjector,
  ) {
    this.retryDelays = options.asyncRetryDelaysMs ?? [1000, 2000];
    this.duplicateDelivery = options.duplicateDelivery ?? false;
    this.duplicateFraction = options.duplicateFraction ?? 0;
    this.duplicateMaxDelayMs = options.duplicateMaxDelayMs ?? 2000;
    this.random = options.random ?? Math.random;
    this.concurrency = options.concurrency;
    this.echoLogs = options.echoLogs ?? true;
    const fraction = this.duplicateFraction;
    if (!(Number.isFinite(fraction) && fraction >= 0 && fraction <= 1)) {
      throw new RangeError(`duplicateFraction must be between 0 and 1; received ${fraction}.`);
    }
    if (this.duplicateDelivery && options.duplicateFraction !== undefined) {
      throw new RangeError(
        'Give duplicateDelivery: true (every event twice) or duplicateFraction (some events), not both.',
      );
    }
    if (!(Number.isFinite(this.duplicateMaxDelayMs) && this.duplicateMaxDelayMs >= 0)) {
      throw new RangeError(
        `duplicateMaxDelayMs must be a number of milliseconds, 0 or more; received ${this.duplicateMaxDelayMs}.`,
      );
    }
    const limit = this.concurrency;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
      throw new RangeError(`concurrency must be a whole number of at least 1; received ${limit}.`);
    }
    faults?.attach(this);
  }

  /** Registers a handler that runs in this process. */
  register(name: string, handler: LocalHandler, options: { timeoutMs: number }): void {
    this.functions.set(name, { kind: 'in-process', name, handler, timeoutMs: options.timeoutMs });
  }

  /** Registers a handler that runs in worker-thread containers. */
  registerIsolated(name: string, handler: IsolatedHandler, options: { timeoutMs: number }): void {
    this.functions.set(name, { kind: 'isolated', name, handler, timeoutMs: options.timeoutMs, idle: [] });
  }

  async start(port = 0): Promise<string> {
    const { server, url } = await listen((req, res) => this.handle(req, res), port);
    this.server = server;
    captureWrites();
    return url;
  }

  async stop(): Promise<void> {
    await this.idle();
    for (const container of this.containers.values()) await container.worker.terminate();
    this.containers.clear();
    if (this.server) await close(this.server);
  }

  /** Resolves when no event is queued, waiting for a retry, or running. */
  idle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The event the container is running, if any. */
  eventIn(container: string): unknown {
    return this.containers.get(container)?.event;
  }

  /** Kills the invocation running in the container, as a crash of its execution environment. */
  kill(container: string): void {
    const target = this.containers.get(container);
    if (target === undefined || target.dead) return;
    this.stats.kills++;
    this.terminate(target, {
      ok: false,
      errorType: 'Runtime.ExitError',
      errorMessage: 'The invocation was killed.',
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    await this.faults?.delay();
    // Every answer carries a request id, as Lambda's do; an invoke's is its invocation's.
    const requestId = randomUUID();
    response.setHeader('x-amzn-requestid', requestId);
    const path = request.url?.split('?')[0] ?? '';
    // CloudWatch Logs' FilterLogEvents, for the functions' log groups (`ddbscan logs`).
    const target = String(request.headers['x-amz-target'] ?? '');
    if (target.startsWith('Logs_20140328.')) return this.answerLogs(target, request, response);
    if (request.method === 'GET') return this.describe(path, response);
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
    if (request.method !== 'POST' || !match?.[1]) {
      return sendError(
        response,
        404,
        'UnknownOperationException',
        `${request.method} ${request.url} is not supported by the local Lambda.`,
      );
    }
    const requested = decodeURIComponent(match[1]);
    const fn = this.lookup(requested);
    if (!fn)
      return sendError(
        response,
        404,
        'ResourceNotFoundException',
        `Function not found: ${this.arn(requested)}`,
      );
    const body = await readBody(request);
    const type = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    const limit = type === 'Event' ? MAX_EVENT_PAYLOAD : MAX_SYNC_PAYLOAD;
    if (body.byteLength > limit) {
      return sendError(
        response,
        413,
        'RequestTooLargeException',
        `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
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
    const input = typeof event === 'object' && event !== null ? (event as Record<string, unknown>) : {};
    const fault = this.faults?.decide('lambda', 'Invoke', input, request.headers['user-agent']);
    if (fault?.action.kind === 'kill' && fault.action.when === 'before') {
      this.faults?.kill(fault.container);
      return void response.destroy();
    }
    if (fault?.action.kind === 'error')
      return sendError(response, 400, fault.action.name, fault.action.message ?? fault.action.name);
    switch (type) {
      case 'Event':
        this.stats.events++;
        if (fault?.action.kind !== 'drop') {
          this.enqueue(fn, event, 0);
          if (this.duplicateDelivery) {
            this.stats.duplicates++;
            this.enqueue(fn, event, 0);
          } else if (this.duplicateFraction > 0 && this.random() < this.duplicateFraction) {
            this.stats.duplicates++;
            this.enqueue(fn, event, 0, this.random() * this.duplicateMaxDelayMs);
          }
        }
        if (fault?.action.kind === 'kill') {
          this.faults?.kill(fault.container);
          return void response.destroy();
        }
        return sendJson(response, 202, undefined);
      case 'DryRun':
        return sendJson(response, 204, undefined);
      case 'RequestResponse': {
        if (!this.tryAcquire(fn)) {
          this.stats.throttled++;
          const reason = 'ReservedFunctionConcurrentInvocationLimitExceeded';
          return sendJson(
            response,
            429,
            { __type: 'TooManyRequestsException', message: 'Rate Exceeded.', Reason: reason },
            { 'x-amzn-errortype': 'TooManyRequestsException', 'content-type': 'application/json' },
          );
        }
        this.begin();
        try {
          const startedAt = Date.now();
          const outcome = await this.run(fn, event, requestId);
          const headers: Record<string, string> = {
            'content-type': 'application/json',
            'x-amz-executed-version': '$LATEST',
          };
          // `--log-type Tail`: the invocation's last 4 KB of log, base64. The local Lambda has the
          // platform's lines; the handler's own log lines go to the local stack's output.
          if (String(request.headers['x-amz-log-type'] ?? '') === 'Tail') {
            headers['x-amz-log-result'] = logTail(requestId, Date.now() - startedAt, outcome);
          }
          if (outcome.ok) return sendJson(response, 200, outcome.result ?? null, headers);
          return sendJson(
            response,
            200,
            { errorType: outcome.errorType, errorMessage: outcome.errorMessage, trace: [] },
            { ...headers, 'x-amz-function-error': 'Unhandled' },
          );
        } finally {
          this.release(fn);
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

  private enqueue(
    fn: LocalFunction,
    event: unknown,
    attempt: number,
    delay = attempt === 0 ? 0 : (this.retryDelays[attempt - 1] ?? 0),
  ): void {
    this.begin();
    setTimeout(() => {
      this.acquireQueued(fn)
        .then(() => this.run(fn, event).finally(() => this.release(fn)))
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

  /** Takes a concurrency slot of the function if one is free. */
  private tryAcquire(fn: LocalFunction): boolean {
    const slots = this.slotsOf(fn);
    if (this.concurrency !== undefined && slots.running >= this.concurrency) return false;
    slots.running++;
    this.stats.peakConcurrency = Math.max(this.stats.peakConcurrency, slots.running);
    return true;
  }

  /** Takes a slot, waiting in line for one if none is free; the wait is no failed attempt. */
  private acquireQueued(fn: LocalFunction): Promise<void> {
    if (this.tryAcquire(fn)) return Promise.resolve();
    this.stats.throttled++;
    return new Promise((resolve) => this.slotsOf(fn).waiting.push(resolve));
  }

  /** Frees a slot, or hands it straight to the next waiting delivery so no invoke can take it between. */
  private release(fn: LocalFunction): void {
    const slots = this.slotsOf(fn);
    const next = slots.waiting.shift();
    if (next) next();
    else slots.running--;
  }

  private slotsOf(fn: LocalFunction): Slots {
    let slots = this.slots.get(fn.name);
    if (slots === undefined) {
      slots = { running: 0, waiting: [] };
      this.slots.set(fn.name, slots);
    }
    return slots;
  }

  private async run(fn: LocalFunction, event: unknown, requestId: string = randomUUID()): Promise<Outcome> {
    this.stats.invocations++;
    const outcome =
      fn.kind === 'isolated'
        ? await this.runIsolated(fn, event)
        : await this.runInProcess(fn, event, requestId);
    if (!outcome.ok) {
      this.stats.errors++;
      this.recentErrors.push(`${outcome.errorType}: ${outcome.errorMessage}`);
      if (this.recentErrors.length > 20) this.recentErrors.shift();
    }
    return outcome;
  }

  private async runInProcess(
    fn: LocalFunction & { kind: 'in-process' },
    event: unknown,
    requestId: string,
  ): Promise<Outcome> {
    const startedAt = Date.now();
    const context = this.context(fn, () => Math.max(0, startedAt + fn.timeoutMs - Date.now()), requestId);
    const group = `/aws/lambda/${fn.name}`;
    const stream = `${new Date(startedAt).toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]local`;
    const log = (line: string) => this.logs.append(group, stream, line);
    log(`START RequestId: ${requestId} Version: $LATEST`);
    const invocation: InvocationLog = { log, echo: this.echoLogs, partial: '' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve(this.timedOut(fn)), fn.timeoutMs);
    });
    // Round-trip through JSON, as Lambda serializes events and results.
    const execution = Promise.resolve()
      .then(() => invocationLog.run(invocation, () => fn.handler(structuredClone(event), context)))
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
    // A last line without its newline is the invocation's too.
    if (invocation.partial !== '') log(invocation.partial);
    invocation.partial = '';
    for (const line of platformLines(requestId, Date.now() - startedAt, outcome).slice(1)) log(line);
    return outcome;
  }

  private async answerLogs(
    target: string,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    const fail = (type: string, message: string) =>
      sendJson(response, 400, { __type: type, message }, { ...headers, 'x-amzn-errortype': type });
    if (target !== 'Logs_20140328.FilterLogEvents') {
      return fail('UnknownOperationException', `${target} is not supported by the local stack's logs.`);
    }
    let input: Record<string, unknown>;
    try {
      input = JSON.parse((await readBody(request)).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return fail('SerializationException', 'The request body is not valid JSON.');
    }
    try {
      sendJson(response, 200, { ...this.logs.filter(input), searchedLogStreams: [] }, headers);
    } catch (error) {
      const type = (error as { type?: string }).type ?? 'InvalidParameterException';
      fail(type, error instanceof Error ? error.message : String(error));
    }
  }

  private async runIsolated(fn: LocalFunction & { kind: 'isolated' }, event: unknown): Promise<Outcome> {
    const container = fn.idle.pop() ?? this.createContainer(fn);
    container.event = event;
    const outcome = await new Promise<Outcome>((resolve) => {
      container.settle = resolve;
      void container.ready.then(() => {
        if (container.dead) return;
        const { getRemainingTimeInMillis: _, ...context } = this.context(fn, () => 0);
        container.worker.postMessage({ event, deadline: Date.now() + fn.timeoutMs, context });
        // Lambda stops an invocation at its timeout: the container goes with it.
        container.timer = setTimeout(() => this.terminate(container, this.timedOut(fn)), fn.timeoutMs);
      });
    });
    clearTimeout(container.timer);
    container.settle = undefined;
    container.event = undefined;
    if (!container.dead) fn.idle.push(container);
    return outcome;
  }

  private createContainer(fn: LocalFunction & { kind: 'isolated' }): Container {
    const id = `lambda-ctr-${++this.containerCount}`;
    const worker = new Worker(WORKER, {
      workerData: { modulePath: fn.handler.modulePath, exportName: fn.handler.exportName },
      // The SDK puts AWS_SDK_UA_APP_ID in every User-Agent: the fault injector knows the caller.
      env: { ...process.env, ...fn.handler.env, AWS_SDK_UA_APP_ID: id },
    });
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      markReady = resolve;
    });
    const container: Container = {
      id,
      worker,
      ready,
      event: undefined,
      settle: undefined,
      timer: undefined,
      dead: false,
    };
    worker.on('message', (message: Outcome | { ready: true }) => {
      if ('ready' in message) markReady();
      else container.settle?.(message);
    });
    worker.on('error', (error) =>
      this.terminate(container, { ok: false, errorType: 'Runtime.Error', errorMessage: error.message }),
    );
    worker.on('exit', () => {
      clearTimeout(container.timer);
      markReady();
      container.dead = true;
      this.containers.delete(id);
      container.settle?.({
        ok: false,
        errorType: 'Runtime.ExitError',
        errorMessage: 'The container exited.',
      });
    });
    this.containers.set(id, container);
    return container;
  }

  private terminate(container: Container, outcome: Outcome): void {
    if (container.dead) return;
    container.dead = true;
    this.containers.delete(container.id);
    container.settle?.(outcome);
    void container.worker.terminate();
  }

  private timedOut(fn: LocalFunction): Outcome {
    this.stats.timeouts++;
    return {
      ok: false,
      errorType: 'Sandbox.Timedout',
      errorMessage: `Task timed out after ${(fn.timeoutMs / 1000).toFixed(2)} seconds`,
    };
  }

  private context(
    fn: LocalFunction,
    remaining: () => number,
    requestId: string = randomUUID(),
  ): LocalContext {
    return {
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.arn(fn.name),
      memoryLimitInMB: '1024',
      awsRequestId: requestId,
      getRemainingTimeInMillis: remaining,
    };
  }

  /** GetFunction, GetFunctionConfiguration and ListFunctions, as the AWS CLI and SDK call them. */
  private describe(path: string, response: ServerResponse): void {
    if (/^\/2015-03-31\/functions\/?$/.test(path)) {
      const functions = [...this.functions.values()].map((fn) => this.configuration(fn));
      sendJson(response, 200, { Functions: functions });
      return;
    }
    const match = /^\/2015-03-31\/functions\/([^/]+)(\/configuration)?$/.exec(path);
    if (match === null) {
      sendError(
        response,
        404,
        'UnknownOperationException',
        `GET ${path} is not supported by the local Lambda.`,
      );
      return;
    }
    const requested = decodeURIComponent(match[1] ?? '');
    const fn = this.lookup(requested);
    if (fn === undefined) {
      sendError(response, 404, 'ResourceNotFoundException', `Function not found: ${this.arn(requested)}`);
      return;
    }
    const configuration = this.configuration(fn);
    const code = { RepositoryType: 'S3', Location: '' };
    sendJson(
      response,
      200,
      match[2] === undefined ? { Configuration: configuration, Code: code } : configuration,
    );
  }

  /** A function by name, or by its ARN (qualified or not). */
  private lookup(requested: string): LocalFunction | undefined {
    return this.functions.get(requested.split(':').at(requested.startsWith('arn:') ? 6 : 0) ?? requested);
  }

  private configuration(fn: LocalFunction): Record<string, unknown> {
    return {
      FunctionName: fn.name,
      FunctionArn: this.arn(fn.name),
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Timeout: Math.ceil(fn.timeoutMs / 1000),
      MemorySize: 1024,
      State: 'Active',
      LastUpdateStatus: 'Successful',
      PackageType: 'Zip',
      Architectures: ['arm64'],
      LoggingConfig: { LogFormat: 'JSON', LogGroup: `/aws/lambda/${fn.name}` },
    };
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

/** The platform's log lines of one invocation: START, an error's, END and REPORT. */
function platformLines(requestId: string, ms: number, outcome: Outcome): string[] {
  return [
    `START RequestId: ${requestId} Version: $LATEST`,
    ...(outcome.ok ? [] : [`${outcome.errorType}: ${outcome.errorMessage}`]),
    `END RequestId: ${requestId}`,
    `REPORT RequestId: ${requestId}\tDuration: ${ms.toFixed(2)} ms\tBilled Duration: ${Math.max(1, Math.ceil(ms))} ms\tMemory Size: 1024 MB`,
  ];
}

/** The platform's log lines of one invocation, as `--log-type Tail` returns them: base64, at most 4 KB. */
function logTail(requestId: string, ms: number, outcome: Outcome): string {
  const text = Buffer.from(`${platformLines(requestId, ms, outcome).join('\n')}\n`, 'utf8');
  return text.subarray(Math.max(0, text.byteLength - 4096)).toString('base64');
}

function sendError(response: ServerResponse, status: number, type: string, message: string): void {
  sendJson(
    response,
    status,
    { Type: 'User', message },
    { 'x-amzn-errortype': type, 'content-type': 'application/json' },
  );
}
