import { afterEach, describe, expect, it, vi } from 'vitest';
import { PowertoolsMetrics, publishesMetrics } from '../../lambda/adapters/powertools-metrics';
import { ScannerMetrics } from '../../lambda/contract';

interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

function capture() {
  const lines: string[] = [];
  const warnings: string[] = [];
  const metrics = new PowertoolsMetrics({
    functionName: 'Backfill-ScannerFunction-1A2B3C',
    output: (line) => lines.push(line),
    log: { warn: (message, ...extra) => warnings.push(`${message} ${JSON.stringify(extra)}`) },
  });
  const documents = () => lines.map((line) => JSON.parse(line) as Emf);
  return { metrics, lines, warnings, documents };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('PowertoolsMetrics', () => {
  it('publishes one EMF line with each metric summed, its unit, and the two dimensions the alarms select on', () => {
    const { metrics, lines, documents } = capture();
    metrics.add('ItemsScanned', 100);
    metrics.add('RecordsPut', 100);
    metrics.add('BytesPut', 52_000);
    metrics.add('ItemsScanned', 60);
    metrics.add('RecordsPut', 60);
    metrics.add('BytesPut', 31_000);
    metrics.add('RecordsThrottled', 0);
    metrics.add('ScanDuration', 754.2);
    metrics.publish();

    expect(lines).toHaveLength(1);
    const [emf] = documents();
    expect(emf?._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: ScannerMetrics.namespace,
        Dimensions: [['service', 'FunctionName']],
        Metrics: [
          { Name: 'ItemsScanned', Unit: 'Count' },
          { Name: 'RecordsPut', Unit: 'Count' },
          { Name: 'BytesPut', Unit: 'Bytes' },
          { Name: 'RecordsThrottled', Unit: 'Count' },
          { Name: 'ScanDuration', Unit: 'Seconds' },
        ],
      },
    ]);
    const { _aws, ...values } = emf as Emf;
    expect(values).toEqual({
      service: ScannerMetrics.service,
      FunctionName: 'Backfill-ScannerFunction-1A2B3C',
      ItemsScanned: 160,
      RecordsPut: 160,
      BytesPut: 83_000,
      RecordsThrottled: 0,
      ScanDuration: 754.2,
    });
    expect(_aws.Timestamp).toBeTypeOf('number');
  });

  it('publishes what it counted every minute of a long invocation, then the rest at the end', () => {
    let now = 0;
    const lines: string[] = [];
    const metrics = new PowertoolsMetrics({
      functionName: 'f',
      output: (line) => lines.push(line),
      now: () => now,
    });

    metrics.add('RecordsPut', 100);
    now = 59_000;
    metrics.add('RecordsPut', 100);
    expect(lines).toHaveLength(0);
    now = 60_000;
    metrics.add('RecordsPut', 50);
    now = 90_000;
    metrics.add('RecordsPut', 7);
    metrics.publish();

    const counts = lines.map((line) => (JSON.parse(line) as Emf).RecordsPut);
    expect(counts).toEqual([250, 7]);
  });

  it('gives every metric of the contract a unit', () => {
    const { metrics, documents } = capture();
    const names = Object.values(ScannerMetrics).filter(
      (name) => name !== ScannerMetrics.namespace && name !== ScannerMetrics.service,
    );
    for (const name of names) metrics.add(name as Parameters<PowertoolsMetrics['add']>[0], 1);
    metrics.publish();
    expect(documents()[0]?._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name)).toEqual(names);
  });

  it('publishes nothing, and warns of nothing, when the invocation counted nothing', () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const { metrics, lines, warnings } = capture();
    metrics.publish();
    expect(lines).toEqual([]);
    expect(warnings).toEqual([]);
    expect(stdout).not.toHaveBeenCalled();
    expect(stderr).not.toHaveBeenCalled();
  });

  it('forgets what it published, so the next publish writes only what was added since', () => {
    const { metrics, documents } = capture();
    metrics.add('HandOffs', 1);
    metrics.publish();
    metrics.publish();
    metrics.add('CheckpointWrites', 2);
    metrics.publish();
    expect(documents().map(({ _aws, service, FunctionName, ...values }) => values)).toEqual([
      { HandOffs: 1 },
      { CheckpointWrites: 2 },
    ]);
  });

  it('ignores a value that is not a finite number instead of losing the others', () => {
    const { metrics, documents } = capture();
    metrics.add('RecordsPut', 10);
    metrics.add('BytesPut', Number.NaN);
    metrics.add('RecordsPut', Number.POSITIVE_INFINITY);
    metrics.publish();
    expect(documents()[0]).toMatchObject({ RecordsPut: 10 });
    expect(documents()[0]).not.toHaveProperty('BytesPut');
  });

  it('reports a failure to publish instead of throwing', () => {
    const warnings: string[] = [];
    const metrics = new PowertoolsMetrics({
      functionName: 'scanner',
      output: () => {
        throw new Error('EPIPE');
      },
      log: { warn: (message) => warnings.push(message) },
    });
    metrics.add('RecordsPut', 1);
    expect(() => metrics.publish()).not.toThrow();
    expect(warnings).toEqual(['could not publish metrics']);
  });

  it('writes the EMF line to stdout by default, as one raw line', () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const metrics = new PowertoolsMetrics({ functionName: 'scanner' });
    metrics.add('SegmentsStalled', 2);
    metrics.publish();
    expect(stdout).toHaveBeenCalledTimes(1);
    const written = String(stdout.mock.calls[0]?.[0]);
    expect(written.endsWith('}\n')).toBe(true);
    expect(JSON.parse(written)).toMatchObject({ FunctionName: 'scanner', SegmentsStalled: 2 });
  });
});

describe('publishesMetrics', () => {
  it.each([
    ['inside Lambda', { AWS_LAMBDA_FUNCTION_NAME: 'scanner' }, true],
    ['outside Lambda (local mode, tests)', {}, false],
    [
      'inside Lambda with POWERTOOLS_METRICS_DISABLED=true',
      { AWS_LAMBDA_FUNCTION_NAME: 'scanner', POWERTOOLS_METRICS_DISABLED: 'true' },
      false,
    ],
    ['outside Lambda with POWERTOOLS_METRICS_DISABLED=false', { POWERTOOLS_METRICS_DISABLED: 'false' }, true],
    [
      'inside Lambda with POWERTOOLS_DEV=true',
      { AWS_LAMBDA_FUNCTION_NAME: 'scanner', POWERTOOLS_DEV: 'true' },
      false,
    ],
    [
      'with POWERTOOLS_DEV=1 but POWERTOOLS_METRICS_DISABLED=0',
      { AWS_LAMBDA_FUNCTION_NAME: 'scanner', POWERTOOLS_DEV: '1', POWERTOOLS_METRICS_DISABLED: '0' },
      true,
    ],
  ])('is %s: %j → %s', (_case, env, expected) => {
    expect(publishesMetrics(env)).toBe(expected);
  });
});
