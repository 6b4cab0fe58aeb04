import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FaultInjector } from './faults';
import { close, listen, readBody, sendJson } from './http';

/** SSM: Standard values up to 4,096 characters, Advanced up to 8,192. */
const STANDARD_MAX = 4096;
const ADVANCED_MAX = 8192;
/** SSM keeps the latest 100 versions of a parameter. */
const MAX_VERSIONS = 100;
/** GetParametersByPath: MaxResults 1 to 10. */
const MAX_PAGE = 10;
/** GetParameterHistory and DescribeParameters: MaxResults 1 to 50. */
const MAX_HISTORY_PAGE = 50;
/** A parameter name has at most 15 levels. */
const MAX_LEVELS = 15;
/** GetParameters and DeleteParameters: 1 to 10 names a call. */
const MAX_NAMES = 10;

/** SSM's default throughput quotas (Service Quotas, Standard throughput). */
export const AWS_SSM_QUOTAS = {
  /** PutParameter, DeleteParameter, DeleteParameters: 3 transactions per second. */
  writesPerSecond: 3,
  /** GetParameter, GetParameters, GetParametersByPath: 40 transactions per second. */
  readsPerSecond: 40,
} as const;

/** The two throughput quotas the local SSM can enforce. */
export type SsmQuotaKind = 'read' | 'write';

/** Throughput quotas, enforced as token buckets refilled continuously in real time. */
export interface SsmQuotas {
  /** Shared by PutParameter, DeleteParameter and DeleteParameters (AWS default 3). */
  readonly writesPerSecond: number;
  /** Shared by GetParameter, GetParameters and GetParametersByPath (AWS default 40). */
  readonly readsPerSecond: number;
  /** Capacity of the write bucket, in calls. @default - `writesPerSecond`: one second's worth */
  readonly writeBurst?: number;
  /** Capacity of the read bucket, in calls. @default - `readsPerSecond`: one second's worth */
  readonly readBurst?: number;
}

/** Which quota each operation draws from; operations not listed are not throttled. */
const QUOTA_OF: ReadonlyMap<string, SsmQuotaKind> = new Map([
  ['PutParameter', 'write'],
  ['DeleteParameter', 'write'],
  ['DeleteParameters', 'write'],
  ['GetParameter', 'read'],
  ['GetParameters', 'read'],
  ['GetParametersByPath', 'read'],
  ['GetParameterHistory', 'read'],
  ['DescribeParameters', 'read'],
]);

/** Accepted writes over a window: the busiest whole epoch second and the average. */
export interface SsmWriteRate {
  /** Writes accepted in the window. */
  readonly total: number;
  /** Most writes accepted within one whole epoch second (e.g. 12:00:05.000 to 12:00:05.999). */
  readonly peak: number;
  /** `total` divided by the window's length in seconds. */
  readonly mean: number;
  /** The window's length in seconds. */
  readonly seconds: number;
}

type Tier = 'Standard' | 'Advanced';

interface StoredParameter {
  readonly name: string;
  readonly type: string;
  readonly value: string;
  readonly version: number;
  readonly tier: Tier;
  readonly modified: number;
}

class SsmError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** A token bucket that starts full and refills continuously at `rate` tokens a second. */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly rate: number,
    readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = capacity;
    this.updatedAt = now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    this.refill();
    // Tolerates the rounding of the refill sum, so waiting `msUntil(1)` is always enough.
    if (this.tokens < 1 - 1e-9) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }

  /** Milliseconds until the bucket holds `count` tokens; 0 when it already does. */
  msUntil(count: number): number {
    this.refill();
    return Math.max(0, Math.ceil(((count - this.tokens) / this.rate) * 1000));
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updatedAt) / 1000) * this.rate);
    this.updatedAt = now;
  }
}

/**
 * A small in-process SSM Parameter Store endpoint speaking the JSON 1.1 protocol: GetParameter,
 * GetParameters, PutParameter, DeleteParameter, DeleteParameters, GetParametersByPath (paged by
 * at most 10), GetParameterHistory (the last 100 versions) and DescribeParameters (by name or
 * path; both paged by at most 50), with SSM's error names, Overwrite and version semantics, the
 * tier size limits and a request id on every answer. The real SDK client and the scanner's SSM adapter run against it unchanged.
 *
 * With {@link LocalSsm.setQuotas} it also enforces SSM's throughput quotas: a call beyond its
 * bucket is refused with `ThrottlingException: Rate exceeded`, which the SDK retries with backoff.
 *
 * @example
 * const ssm = new LocalSsm();
 * ssm.setQuotas(AWS_SSM_QUOTAS); // 3 writes/s and 40 reads/s, each with one second of burst
 * const client = new SSMClient({ endpoint: await ssm.start() });
 */
export class LocalSsm {
  private readonly parameters = new Map<string, StoredParameter[]>();
  private server: Server | undefined;
  private buckets: Readonly<Record<SsmQuotaKind, TokenBucket>> | undefined;
  /** Epoch milliseconds of every write that passed the write quota, oldest first. */
  private writes: number[] = [];
  /** Calls received, by operation, throttled ones included. */
  readonly calls: Record<string, number> = {};
  /** Calls refused with ThrottlingException by the quotas, by operation. */
  readonly throttled: Record<string, number> = {};

  constructor(
    private readonly region = 'us-east-1',
    private readonly faults?: FaultInjector,
    private readonly account = '000000000000',
  ) {}

  async start(port = 0): Promise<string> {
    const { server, url } = await listen((req, res) => this.handle(req, res), port);
    this.server = server;
    return url;
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  /** The current value of a parameter, for tests and the demo. */
  value(name: string): string | undefined {
    return this.parameters.get(name)?.at(-1)?.value;
  }

  names(): string[] {
    return [...this.parameters.keys()].sort();
  }

  /** How many parameters are stored now. */
  parameterCount(): number {
    return this.parameters.size;
  }

  /**
   * Enforces throughput quotas from now on, with both buckets full; `undefined` lifts them.
   *
   * @example
   * ssm.setQuotas({ writesPerSecond: 3, readsPerSecond: 40 });
   * ssm.setQuotas({ ...AWS_SSM_QUOTAS, writeBurst: 10 });
   */
  setQuotas(quotas: SsmQuotas | undefined): void {
    if (quotas === undefined) {
      this.buckets = undefined;
      return;
    }
    const writes = checkQuota('writesPerSecond', quotas.writesPerSecond, 'a positive number', 0);
    const reads = checkQuota('readsPerSecond', quotas.readsPerSecond, 'a positive number', 0);
    // A bucket that cannot hold one whole token could never serve a call.
    const writeBurst = checkQuota('writeBurst', quotas.writeBurst ?? Math.max(1, writes), 'at least 1', 1);
    const readBurst = checkQuota('readBurst', quotas.readBurst ?? Math.max(1, reads), 'at least 1', 1);
    this.buckets = {
      write: new TokenBucket(writes, writeBurst),
      read: new TokenBucket(reads, readBurst),
    };
  }

  /**
   * Milliseconds until the quota's bucket holds `tokens` calls: how long to wait before that many
   * calls pass. 0 without quotas or when the bucket already holds them.
   */
  refillMs(kind: SsmQuotaKind, tokens = 1): number {
    const bucket = this.buckets?.[kind];
    if (bucket === undefined) return 0;
    if (tokens > bucket.capacity) {
      throw new RangeError(`The ${kind} bucket holds at most ${bucket.capacity} calls; asked for ${tokens}.`);
    }
    return bucket.msUntil(tokens);
  }

  /** Epoch milliseconds of the writes accepted so far (with or without quotas), oldest first. */
  writeTimeline(): number[] {
    return [...this.writes];
  }

  /**
   * Peak and mean of accepted writes per second over a window.
   * @param window from `fromMs` (inclusive) to `toMs` (exclusive), epoch milliseconds
   * @default - the whole seconds from the first accepted write to the last
   */
  writeRate(window: { readonly fromMs?: number; readonly toMs?: number } = {}): SsmWriteRate {
    const first = this.writes[0];
    const last = this.writes.at(-1);
    if (first === undefined || last === undefined) return { total: 0, peak: 0, mean: 0, seconds: 0 };
    const fromMs = window.fromMs ?? Math.floor(first / 1000) * 1000;
    const toMs = window.toMs ?? (Math.floor(last / 1000) + 1) * 1000;
    const perSecond = new Map<number, number>();
    let total = 0;
    for (const at of this.writes) {
      if (at < fromMs || at >= toMs) continue;
      total++;
      const second = Math.floor(at / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    const seconds = Math.max(0, toMs - fromMs) / 1000;
    return {
      total,
      peak: Math.max(0, ...perSecond.values()),
      mean: seconds > 0 ? total / seconds : 0,
      seconds,
    };
  }

  /** Forgets the call and throttle counts and the write timeline; parameters and quotas stay. */
  resetStats(): void {
    for (const counts of [this.calls, this.throttled])
      for (const operation of Object.keys(counts)) delete counts[operation];
    this.writes = [];
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    await this.faults?.delay();
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : target;
    // Every answer carries a request id, as SSM's do (the SDK reports it in errors and metadata).
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() };
    try {
      let input: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse((await readBody(request)).toString('utf8') || '{}');
        input = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
      } catch {
        throw new SsmError('SerializationException', 'The request body is not valid JSON.');
      }
      this.calls[operation] = (this.calls[operation] ?? 0) + 1;
      this.admit(operation);
      const fault = this.faults?.decide('ssm', operation, input, request.headers['user-agent']);
      const action = fault?.action;
      if (action?.kind === 'error') throw new SsmError(action.name, action.message ?? action.name);
      if (action?.kind === 'kill' && action.when === 'before') {
        this.faults?.kill(fault?.container);
        return void response.destroy();
      }
      const output = this.dispatch(operation, input);
      if (action?.kind === 'kill') {
        this.faults?.kill(fault?.container);
        return void response.destroy();
      }
      sendJson(response, 200, output, headers);
    } catch (error) {
      if (!(error instanceof SsmError)) throw error;
      sendJson(
        response,
        400,
        { __type: error.type, message: error.message },
        { ...headers, 'x-amzn-errortype': error.type },
      );
    }
  }

  /** Takes the call's token, or refuses it as SSM does past a quota; records accepted writes. */
  private admit(operation: string): void {
    const kind = QUOTA_OF.get(operation);
    if (kind === undefined) return;
    if (this.buckets !== undefined && !this.buckets[kind].take()) {
      this.throttled[operation] = (this.throttled[operation] ?? 0) + 1;
      throw new SsmError('ThrottlingException', 'Rate exceeded');
    }
    if (kind === 'write') this.writes.push(Date.now());
  }

  private dispatch(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'GetParameter':
        return { Parameter: this.describe(this.current(requiredName(input.Name))) };
      case 'GetParameters':
        return this.getMany(input.Names);
      case 'PutParameter':
        return this.put(input);
      case 'DeleteParameter':
        this.current(requiredName(input.Name));
        this.parameters.delete(requiredName(input.Name));
        return {};
      case 'DeleteParameters':
        return this.deleteMany(input.Names);
      case 'GetParametersByPath':
        return this.byPath(input);
      case 'GetParameterHistory':
        return this.history(input);
      case 'DescribeParameters':
        return this.describeParameters(input);
      default:
        throw new SsmError(
          'UnknownOperationException',
          `Operation ${operation} is not supported by the local SSM.`,
        );
    }
  }

  private current(name: string): StoredParameter {
    const latest = this.parameters.get(name)?.at(-1);
    if (!latest) throw new SsmError('ParameterNotFound', `Parameter ${name} not found.`);
    return latest;
  }

  private put(input: Record<string, unknown>): unknown {
    const name = requiredName(input.Name);
    const value = input.Value;
    if (typeof value !== 'string' || value.length === 0) {
      throw new SsmError(
        'ValidationException',
        "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
      );
    }
    // SSM reads `{{…}}` in a value as a reference to another parameter, and refuses it.
    if (/\{\{[\s\S]*\}\}/.test(value)) {
      throw new SsmError(
        'ValidationException',
        'Parameter value can\'t nest another parameter. Do not use "{{}}" in the value.',
      );
    }
    const history = this.parameters.get(name) ?? [];
    const latest = history.at(-1);
    if (latest && input.Overwrite !== true) {
      throw new SsmError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    const type = typeof input.Type === 'string' ? input.Type : (latest?.type ?? 'String');
    const tier = chooseTier(input.Tier, value, latest?.tier);
    const stored: StoredParameter = {
      name,
      type,
      value,
      version: (latest?.version ?? 0) + 1,
      tier,
      modified: Date.now(),
    };
    history.push(stored);
    if (history.length > MAX_VERSIONS) history.shift();
    this.parameters.set(name, history);
    return { Version: stored.version, Tier: tier };
  }

  private getMany(names: unknown): unknown {
    const parameters: unknown[] = [];
    const invalid: string[] = [];
    // SSM answers once per distinct name; a malformed name is invalid, not an error.
    for (const name of new Set(requiredNames(names))) {
      const latest = this.parameters.get(name)?.at(-1);
      if (latest) parameters.push(this.describe(latest));
      else invalid.push(name);
    }
    return { Parameters: parameters, InvalidParameters: invalid };
  }

  private deleteMany(names: unknown): unknown {
    const deleted: string[] = [];
    const invalid: string[] = [];
    for (const name of requiredNames(names)) {
      if (this.parameters.delete(name)) deleted.push(name);
      else invalid.push(name);
    }
    return { DeletedParameters: deleted, InvalidParameters: invalid };
  }

  private byPath(input: Record<string, unknown>): unknown {
    const path = input.Path;
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new SsmError('ValidationException', 'The parameter path must begin with a forward slash (/).');
    }
    const max = input.MaxResults ?? MAX_PAGE;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_PAGE) {
      throw new SsmError(
        'ValidationException',
        `1 validation error detected: Value '${String(max)}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10`,
      );
    }
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const matches = this.names().filter((name) => {
      if (!name.startsWith(prefix)) return false;
      return input.Recursive === true || !name.slice(prefix.length).includes('/');
    });
    const start =
      typeof input.NextToken === 'string' ? Number(Buffer.from(input.NextToken, 'base64').toString()) : 0;
    if (!Number.isInteger(start) || start < 0)
      throw new SsmError('InvalidNextToken', 'The specified token is not valid.');
    const page = matches.slice(start, start + max);
    const next =
      start + max < matches.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
    return { Parameters: page.map((name) => this.describe(this.current(name))), NextToken: next };
  }

  /** Every kept version, oldest first, as SSM answers GetParameterHistory. */
  private history(input: Record<string, unknown>): unknown {
    const name = requiredName(input.Name);
    const versions = this.parameters.get(name);
    if (!versions) throw new SsmError('ParameterNotFound', `Parameter ${name} not found.`);
    return page(versions, input, (version) => ({
      ...(this.describe(version) as object),
      Tier: version.tier,
      Labels: [],
    }));
  }

  /** Metadata of the latest versions, filtered by name prefix or path (the filters the CLI uses most). */
  private describeParameters(input: Record<string, unknown>): unknown {
    const filters = Array.isArray(input.ParameterFilters)
      ? (input.ParameterFilters as Record<string, unknown>[])
      : [];
    const names = this.names().filter((name) => filters.every((filter) => matches(name, filter)));
    return page(names, input, (name) => {
      const { Value: _, ...metadata } = this.describe(this.current(name)) as Record<string, unknown>;
      return { ...metadata, Tier: this.current(name).tier };
    });
  }

  private describe(parameter: StoredParameter): unknown {
    return {
      Name: parameter.name,
      Type: parameter.type,
      Value: parameter.value,
      Version: parameter.version,
      LastModifiedDate: parameter.modified / 1000,
      ARN: `arn:aws:ssm:${this.region}:${this.account}:parameter${parameter.name.startsWith('/') ? '' : '/'}${parameter.name}`,
      DataType: 'text',
    };
  }
}

/** One page of a listing of up to 50 a call, with SSM's NextToken. */
function page<T>(items: readonly T[], input: Record<string, unknown>, render: (item: T) => unknown): unknown {
  const max = input.MaxResults ?? MAX_HISTORY_PAGE;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_HISTORY_PAGE) {
    throw new SsmError(
      'ValidationException',
      `1 validation error detected: Value '${String(max)}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${MAX_HISTORY_PAGE}`,
    );
  }
  const start =
    typeof input.NextToken === 'string' ? Number(Buffer.from(input.NextToken, 'base64').toString()) : 0;
  if (!Number.isInteger(start) || start < 0)
    throw new SsmError('InvalidNextToken', 'The specified token is not valid.');
  const next = start + max < items.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
  return { Parameters: items.slice(start, start + max).map(render), NextToken: next };
}

/** A DescribeParameters filter: Name (Equals, BeginsWith) or Path (OneLevel, Recursive). */
function matches(name: string, filter: Record<string, unknown>): boolean {
  const values = Array.isArray(filter.Values) ? filter.Values.map(String) : [];
  const option = filter.Option ?? (filter.Key === 'Path' ? 'OneLevel' : 'Equals');
  if (filter.Key === 'Name' && option === 'Equals') return values.includes(name);
  if (filter.Key === 'Name' && option === 'BeginsWith')
    return values.some((prefix) => name.startsWith(prefix));
  if (filter.Key === 'Path' && (option === 'OneLevel' || option === 'Recursive')) {
    return values.some((path) => {
      const prefix = path.endsWith('/') ? path : `${path}/`;
      return name.startsWith(prefix) && (option === 'Recursive' || !name.slice(prefix.length).includes('/'));
    });
  }
  throw new SsmError(
    'InvalidFilterOption',
    `The local SSM supports the filters Name (Equals, BeginsWith) and Path (OneLevel, Recursive), not ${String(filter.Key)} ${String(option)}.`,
  );
}

function checkQuota(field: keyof SsmQuotas, value: unknown, expected: string, least: number): number {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && (least === 0 ? value > 0 : value >= least);
  if (!ok) throw new RangeError(`SSM quotas: ${field} must be ${expected}; received ${String(value)}.`);
  return value;
}

function requiredNames(names: unknown): string[] {
  if (!Array.isArray(names) || names.length < 1 || names.length > MAX_NAMES) {
    throw new SsmError(
      'ValidationException',
      `1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and ${MAX_NAMES}`,
    );
  }
  return names.map(String);
}

function requiredName(name: unknown): string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 2048 ||
    !/^[a-zA-Z0-9_.\-/]+$/.test(name)
  ) {
    throw new SsmError(
      'ValidationException',
      `Parameter name ${JSON.stringify(name)} is not valid: use letters, digits, and _ . - /.`,
    );
  }
  if (name.includes('/') && !name.startsWith('/')) {
    throw new SsmError(
      'ValidationException',
      'Parameter name: can\'t be prefixed with "/" unless it is fully qualified with a leading "/".',
    );
  }
  if (name.split('/').length - 1 > MAX_LEVELS) {
    throw new SsmError(
      'HierarchyLevelLimitExceededException',
      `A hierarchy can have a maximum of ${MAX_LEVELS} levels.`,
    );
  }
  return name;
}

function chooseTier(requested: unknown, value: string, existing: Tier | undefined): Tier {
  if (
    requested !== undefined &&
    requested !== 'Standard' &&
    requested !== 'Advanced' &&
    requested !== 'Intelligent-Tiering'
  ) {
    throw new SsmError(
      'ValidationException',
      `Tier ${JSON.stringify(requested)} is not one of Standard, Advanced, Intelligent-Tiering.`,
    );
  }
  if (value.length > ADVANCED_MAX) {
    throw new SsmError(
      'ValidationException',
      `Parameter value can't be longer than ${ADVANCED_MAX} characters for the advanced tier.`,
    );
  }
  const tier: Tier =
    requested === 'Advanced' ||
    (requested === 'Intelligent-Tiering' && (value.length > STANDARD_MAX || existing === 'Advanced'))
      ? 'Advanced'
      : requested === undefined && existing === 'Advanced'
        ? 'Advanced'
        : 'Standard';
  if (tier === 'Standard' && existing === 'Advanced') {
    throw new SsmError(
      'ValidationException',
      "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier.",
    );
  }
  if (tier === 'Standard' && value.length > STANDARD_MAX) {
    throw new SsmError(
      'ValidationException',
      `Standard tier parameters support a maximum parameter value of ${STANDARD_MAX} characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.`,
    );
  }
  return tier;
}
