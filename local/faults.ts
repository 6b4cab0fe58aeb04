/** A call to a local service, as the fault rules see it. */
export interface ServiceCall {
  readonly service: 'dynamodb' | 'kinesis' | 'ssm' | 'lambda' | 'eventbridge';
  /** The API operation, e.g. `PutRecords`, `PutParameter`, `Invoke`. */
  readonly operation: string;
  /** The request body (for Invoke: the payload). */
  readonly input: Record<string, unknown>;
  /** The invocation making the call, when it runs isolated in the local Lambda. */
  readonly caller: { readonly container: string; readonly event: unknown } | undefined;
}

/** What a fault rule does to a call. */
export type FaultAction =
  /** Answer with this AWS error instead of serving the call. */
  | { readonly kind: 'error'; readonly name: string; readonly message?: string }
  /** Kill the calling invocation (its container), before the call is served or just after. */
  | { readonly kind: 'kill'; readonly when: 'before' | 'after' }
  /** PutRecords: fail the entries for which `errorFor` returns an error code; only the others are written. */
  | {
      readonly kind: 'fail-entries';
      readonly errorFor: (index: number, entry: PutEntry) => string | undefined;
    }
  /** Lambda Invoke (Event): accept it with 202 and never deliver it. */
  | { readonly kind: 'drop' };

export type FaultRule = (call: ServiceCall) => FaultAction | undefined;

/** A PutRecords entry as `fail-entries` sees it. */
export interface PutEntry {
  readonly partitionKey: string;
  /** Data plus partition key, as Kinesis counts them against a shard's 1 MiB/s. */
  readonly bytes: number;
}

/** What the injector needs from the local Lambda: whose invocation a container runs, and killing it. */
export interface ContainerControl {
  eventIn(container: string): unknown;
  kill(container: string): void;
}

/**
 * Decides faults for every local endpoint. Callers are identified by the SDK's User-Agent
 * `app/lambda-ctr-<n>` token, which the local Lambda sets per container (AWS_SDK_UA_APP_ID).
 */
export class FaultInjector {
  rule: FaultRule | undefined;
  /** Added to every call of every local service: an AWS-like round trip for the benchmark. */
  latencyMs = 0;
  /** Injected actions, by kind. */
  readonly counts: Record<string, number> = {};
  private containers: ContainerControl | undefined;

  attach(containers: ContainerControl): void {
    this.containers = containers;
  }

  decide(
    service: ServiceCall['service'],
    operation: string,
    input: Record<string, unknown>,
    userAgent: string | undefined,
  ): { action: FaultAction; container: string | undefined } | undefined {
    if (this.rule === undefined) return undefined;
    // Powertools appends its own tokens to the app id, so match the container id alone.
    const container = /app\/(lambda-ctr-\d+)/.exec(userAgent ?? '')?.[1];
    const event = container === undefined ? undefined : this.containers?.eventIn(container);
    const caller = container === undefined || event === undefined ? undefined : { container, event };
    const action = this.rule({ service, operation, input, caller });
    if (action === undefined) return undefined;
    this.counts[action.kind] = (this.counts[action.kind] ?? 0) + 1;
    return { action, container };
  }

  /** Waits the configured latency; every endpoint calls it before serving a request. */
  async delay(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
  }

  kill(container: string | undefined): void {
    if (container !== undefined) this.containers?.kill(container);
  }
}
