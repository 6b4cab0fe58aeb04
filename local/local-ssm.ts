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
/** A parameter name has at most 15 levels. */
const MAX_LEVELS = 15;

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

/**
 * A small in-process SSM Parameter Store endpoint speaking the JSON 1.1 protocol: GetParameter,
 * PutParameter, DeleteParameter, DeleteParameters and GetParametersByPath, with SSM's error names,
 * Overwrite and version semantics, the tier size limits, and paging of at most 10 per call.
 * The real SDK client and the scanner's SSM adapter run against it unchanged.
 */
export class LocalSsm {
  private readonly parameters = new Map<string, StoredParameter[]>();
  private server: Server | undefined;
  /** Calls served, by operation. */
  readonly calls: Record<string, number> = {};

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

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    await this.faults?.delay();
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : target;
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    try {
      let input: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse((await readBody(request)).toString('utf8') || '{}');
        input = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
      } catch {
        throw new SsmError('SerializationException', 'The request body is not valid JSON.');
      }
      this.calls[operation] = (this.calls[operation] ?? 0) + 1;
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

  private dispatch(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'GetParameter':
        return { Parameter: this.describe(this.current(requiredName(input.Name))) };
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

  private deleteMany(names: unknown): unknown {
    if (!Array.isArray(names) || names.length < 1 || names.length > 10) {
      throw new SsmError(
        'ValidationException',
        "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10",
      );
    }
    const deleted: string[] = [];
    const invalid: string[] = [];
    for (const name of names.map(String)) {
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
