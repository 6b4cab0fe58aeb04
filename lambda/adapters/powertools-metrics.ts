import { MetricUnit, Metrics as PowertoolsMetricsLogger } from '@aws-lambda-powertools/metrics';
import { ScannerMetrics } from '../contract';
import type { Log, MetricName, Metrics } from '../core/ports';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];
type Env = Readonly<Record<string, string | undefined>>;

/** The CloudWatch unit of each metric: a new metric must say its unit here. */
const UNITS: Readonly<Record<MetricName, Unit>> = {
  [ScannerMetrics.itemsScanned]: MetricUnit.Count,
  [ScannerMetrics.recordsPut]: MetricUnit.Count,
  [ScannerMetrics.bytesPut]: MetricUnit.Bytes,
  [ScannerMetrics.recordsThrottled]: MetricUnit.Count,
  [ScannerMetrics.checkpointWrites]: MetricUnit.Count,
  [ScannerMetrics.handOffs]: MetricUnit.Count,
  [ScannerMetrics.segmentsStalled]: MetricUnit.Count,
  [ScannerMetrics.scansFailed]: MetricUnit.Count,
  [ScannerMetrics.scanDuration]: MetricUnit.Seconds,
};

/** The values Powertools reads as true or false in its boolean environment variables. */
const TRUTHY = new Set(['1', 'y', 'yes', 't', 'true', 'on']);
const FALSY = new Set(['0', 'n', 'no', 'f', 'false', 'off']);

export interface PowertoolsMetricsOptions {
  /** The invocation's function name: the `FunctionName` dimension the construct's alarms select on. */
  readonly functionName: string;
  /**
   * Receives each EMF document as one JSON line.
   * @default writes it to stdout, where Lambda sends it to CloudWatch Logs, which extracts the metrics
   */
  readonly output?: (line: string) => void;
  /** Told when the metrics cannot be published. @default nowhere */
  readonly log?: Pick<Log, 'warn'>;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * A long invocation (a chain runs for up to 15 minutes) publishes what it counted at least this
 * often: the alarms and the dashboard read 1 and 5 minute periods.
 */
const PUBLISH_EVERY_MS = 60_000;

/**
 * The `Metrics` port in CloudWatch's embedded metric format, serialized by Powertools Metrics:
 * namespace `DynamoDbKinesisScanner`, dimensions `service` (`ddbscan`) and `FunctionName`, and
 * nothing else, since the construct's alarms and dashboard select on exactly those. One instance
 * per invocation: it sums what the core adds (once per page) and writes one EMF line with each
 * metric once, at the end of the invocation (`publish`) and, in a long one, every minute.
 *
 * @example
 * const metrics = new PowertoolsMetrics({ functionName: context.functionName });
 * try {
 *   metrics.add('RecordsPut', 500);
 *   metrics.add('RecordsPut', 120);
 * } finally {
 *   metrics.publish(); // {"_aws":{…},"service":"ddbscan","FunctionName":"…","RecordsPut":620}
 * }
 */
export class PowertoolsMetrics implements Metrics {
  private readonly totals = new Map<MetricName, number>();
  private readonly now: () => number;
  private publishedAt: number;

  constructor(private readonly options: PowertoolsMetricsOptions) {
    this.now = options.now ?? Date.now;
    this.publishedAt = this.now();
  }

  add(name: MetricName, value: number): void {
    // Powertools refuses a value that is not a number when it serializes, losing the others with it.
    if (!Number.isFinite(value)) return;
    this.totals.set(name, (this.totals.get(name) ?? 0) + value);
    if (this.now() - this.publishedAt >= PUBLISH_EVERY_MS) this.publish();
  }

  /**
   * Writes the metrics counted since the last publish as one EMF line and forgets them. Writes nothing when none
   * was added (no empty document, no "no metrics" warning). Never throws: it runs in the
   * handler's `finally`, where an error would replace the invocation's own.
   */
  publish(): void {
    this.publishedAt = this.now();
    if (this.totals.size === 0) return;
    const totals = [...this.totals];
    this.totals.clear();
    try {
      const emf = new PowertoolsMetricsLogger({
        namespace: ScannerMetrics.namespace,
        serviceName: ScannerMetrics.service,
        defaultDimensions: { FunctionName: this.options.functionName },
        logger: {
          debug: () => {},
          info: () => {},
          warn: (message: unknown) => this.options.log?.warn('metrics', { message: String(message) }),
          error: (message: unknown) => this.options.log?.warn('metrics', { message: String(message) }),
        },
      });
      for (const [name, value] of totals) emf.addMetric(name, UNITS[name], value);
      const line = JSON.stringify(emf.serializeMetrics());
      emf.clearMetrics();
      (this.options.output ?? writeToStdout)(line);
    } catch (error) {
      this.options.log?.warn('could not publish metrics', { error: String(error) });
    }
  }
}

/**
 * Whether the scanner writes its metrics to stdout when no output is given: only inside Lambda
 * (`AWS_LAMBDA_FUNCTION_NAME` is set), so local runs and tests print no EMF. As in Powertools,
 * `POWERTOOLS_METRICS_DISABLED` decides when it is set (`true` turns them off, `false` on even
 * locally), and `POWERTOOLS_DEV=true` turns them off otherwise.
 *
 * @example
 * publishesMetrics(process.env); // true in Lambda, false under `npm run demo`
 */
export function publishesMetrics(env: Env): boolean {
  const disabled = readBoolean(env.POWERTOOLS_METRICS_DISABLED);
  if (disabled !== undefined) return !disabled;
  if (readBoolean(env.POWERTOOLS_DEV) === true) return false;
  return Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
}

function readBoolean(text: string | undefined): boolean | undefined {
  const value = text?.trim().toLowerCase() ?? '';
  if (TRUTHY.has(value)) return true;
  if (FALSY.has(value)) return false;
  return undefined;
}

/** A raw line, as Powertools writes it: Lambda's console adds a prefix that EMF must not have. */
function writeToStdout(line: string): void {
  process.stdout.write(`${line}\n`);
}
