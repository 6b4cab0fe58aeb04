import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ScannerMetrics } from '../lambda/contract';
import type { DynamoDbKinesisScanner, ScannerMetricName } from './dynamodb-kinesis-scanner';
import { packageVersion } from './package-version';

/**
 * How a runbook runs the CLI: the version that synthesized the stack, which npx takes from the app
 * that installed it, or else fetches from npm (by the package's name, never another package named
 * like its binary).
 */
export const CLI = `npx dynamodb-kinesis-scanner@${packageVersion()}`;

/**
 * The throttling alarm fires when more than this percentage of the PutRecords entries the scanner
 * sent were refused, in each of `THROTTLING_PERIODS` consecutive 5-minute periods. Refused entries
 * are resent, so brief throttling (an on-demand stream scaling up, a burst at start) costs only
 * retries; a quarter of an hour above a fifth means the scan runs at the stream's write limit.
 */
const THROTTLED_PERCENT_THRESHOLD = 20;
const THROTTLING_PERIODS = 3;

/** The `ddbscan` flags that name a scanner: its function and region. */
export function functionFlagOf(fn: lambda.IFunction): string {
  return `--function ${fn.functionName} --region ${Stack.of(fn).region}`;
}

export interface ScannerMonitoringProps {
  /**
   * Receives the ALARM and OK notifications of every alarm.
   * @default - no notifications
   */
  readonly alarmTopic?: sns.ITopic;
  /** @default true */
  readonly dashboard?: boolean;
}

/**
 * The scanner's alarms and dashboard. Each alarm description says what happened and which
 * `ddbscan` commands fix it, for this scanner's function and region.
 */
export class ScannerMonitoring extends Construct {
  /** In alarm while the failed-invocations queue holds a message. */
  readonly failedInvocationsAlarm: cloudwatch.Alarm;
  /** In alarm when an invocation of the function ended with an error in the last 5 minutes. */
  readonly errorsAlarm: cloudwatch.Alarm;
  /** In alarm when the watchdog relaunched a stalled segment in the last 5 minutes. */
  readonly stalledSegmentsAlarm: cloudwatch.Alarm;
  /** In alarm when Kinesis refused more than 20% of the scanner's records for 15 minutes. */
  readonly throttlingAlarm: cloudwatch.Alarm;
  /** In alarm when a scan ended FAILED in the last 5 minutes. */
  readonly scansFailedAlarm: cloudwatch.Alarm;
  /** Every alarm above, in that order. */
  readonly alarms: readonly cloudwatch.Alarm[];
  /** Unless `dashboard: false`. */
  readonly dashboard?: cloudwatch.Dashboard;
  private readonly alarmTopic: sns.ITopic | undefined;

  constructor(scope: Construct, id: string, scanner: DynamoDbKinesisScanner, props: ScannerMonitoringProps) {
    super(scope, id);
    this.alarmTopic = props.alarmTopic;
    // Every description names the commands that fix it, with this scanner's function and region
    // filled in.
    const functionFlag = functionFlagOf(scanner.function);
    const fiveMinutes = Duration.minutes(5);

    this.failedInvocationsAlarm = scanner.failedInvocations
      .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
      .createAlarm(this, 'FailedInvocationsAlarm', {
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'A scanner invocation (a segment chain, a hand-off or the watchdog) failed after Lambda retried it twice; ' +
          `its event and error are in the queue ${scanner.failedInvocations.queueName}. That segment's chain stopped; the watchdog ` +
          `relaunches it once its checkpoint is stale. Look at: ${CLI} status ${functionFlag} (stalled or failed segments), ` +
          'the function logs ("invocation failed"), and the messages (aws sqs receive-message). Fix the cause, then ' +
          `${CLI} resume ${functionFlag} relaunches stalled segments at once. Purge the queue when done (aws sqs purge-queue): ` +
          'the alarm stays on while a message is in it.',
      });

    this.errorsAlarm = scanner.function
      .metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'ErrorsAlarm', {
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'An invocation of the scanner function ended with an error in the last 5 minutes. Rejected requests count ' +
          'too (an invalid start option returns a ValidationError to its caller). A chain that failed is retried twice ' +
          'by Lambda from its checkpoint; if the retries fail too, the FailedInvocations alarm follows. Look at the ' +
          `function logs ("invocation failed", with the action and error) and ${CLI} status ${functionFlag}. A transient ` +
          `error needs nothing; a scan that ended FAILED continues with ${CLI} resume ${functionFlag} once the cause is fixed.`,
      });

    this.stalledSegmentsAlarm = scanner
      .metric(ScannerMetrics.segmentsStalled, {
        period: fiveMinutes,
        statistic: cloudwatch.Stats.SUM,
      })
      .createAlarm(this, 'StalledSegmentsAlarm', {
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'The watchdog found a running segment whose checkpoint had not moved for the function timeout plus a minute ' +
          '(its chain died: a lost hand-off, a crash, or an event that failed every retry) and relaunched it from its ' +
          'checkpoint. One relaunch is the recovery working; repeated ones mean the chain keeps dying. Look at: ' +
          `${CLI} status ${functionFlag} (segments running and stalled), the FailedInvocations queue and the function logs. ` +
          `${CLI} resume ${functionFlag} relaunches stalled segments at once; ${CLI} stop ${functionFlag} halts the scan at its ` +
          'checkpoints while you investigate.',
      });

    const throttledPercent = this.throttledPercent(scanner, fiveMinutes);
    this.throttlingAlarm = throttledPercent.createAlarm(this, 'ThrottlingAlarm', {
      threshold: THROTTLED_PERCENT_THRESHOLD,
      evaluationPeriods: THROTTLING_PERIODS,
      datapointsToAlarm: THROTTLING_PERIODS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        `Kinesis refused more than ${THROTTLED_PERCENT_THRESHOLD}% of the records the scanner sent (throttled or ` +
        `InternalFailure) for ${5 * THROTTLING_PERIODS} minutes (${THROTTLING_PERIODS} 5-minute periods in a row). Nothing is lost (refused records ` +
        'are resent), but the scan runs at the stream write limit, slowing it and any other producer on the stream. ' +
        "Look at the dashboard's stream throughput and WriteProvisionedThroughputExceeded. Raise the stream capacity " +
        '(provisioned: aws kinesis update-shard-count; on-demand adapts to a new peak by itself), or pause with ' +
        `${CLI} stop ${functionFlag} and continue later with ${CLI} resume ${functionFlag}.`,
    });

    this.scansFailedAlarm = scanner
      .metric(ScannerMetrics.scansFailed, {
        period: fiveMinutes,
        statistic: cloudwatch.Stats.SUM,
      })
      .createAlarm(this, 'ScansFailedAlarm', {
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'A scan ended FAILED: a non-retryable error (access denied, a missing table or stream, an invalid request, ' +
          'an item whose record exceeds 1 MiB, or a page Kinesis kept refusing through 3 invocations). ' +
          `${CLI} status ${functionFlag} shows the error. Fix the cause (permissions, the stream, the item), then ` +
          `${CLI} resume ${functionFlag} continues from the checkpoints; ${CLI} start ${functionFlag} starts a new scan instead.`,
      });

    this.alarms = [
      this.failedInvocationsAlarm,
      this.errorsAlarm,
      this.stalledSegmentsAlarm,
      this.throttlingAlarm,
      this.scansFailedAlarm,
    ];
    for (const alarm of this.alarms) this.notify(alarm);

    if (props.dashboard ?? true) this.dashboard = this.createDashboard(scanner, throttledPercent);
  }

  /** Sends an alarm's ALARM and OK to the alarm topic, if there is one. */
  notify(alarm: cloudwatch.Alarm): void {
    if (this.alarmTopic === undefined) return;
    const action = new cloudwatchActions.SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }

  /**
   * The percentage of the PutRecords entries sent that Kinesis refused: throttled / (put + throttled).
   * Measured by the scanner, so it works the same for a stream the construct created and one it was
   * given, and counts only this scanner's writes. A period without writes has no value (0/0), so an
   * idle scanner is never in alarm.
   */
  private throttledPercent(scanner: DynamoDbKinesisScanner, period: Duration): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: '100 * FILL(throttled, 0) / (FILL(put, 0) + FILL(throttled, 0))',
      usingMetrics: {
        throttled: scanner.metric(ScannerMetrics.recordsThrottled, { period }),
        put: scanner.metric(ScannerMetrics.recordsPut, { period }),
      },
      label: 'Records refused by Kinesis (%)',
      period,
    });
  }

  private createDashboard(
    scanner: DynamoDbKinesisScanner,
    throttledPercent: cloudwatch.MathExpression,
  ): cloudwatch.Dashboard {
    const minute = Duration.minutes(1);
    const perMinute = (metricName: ScannerMetricName, label: string) =>
      scanner.metric(metricName, { period: minute, label });
    const stream = (metric: cloudwatch.Metric, label: string) =>
      metric.with({ period: minute, statistic: cloudwatch.Stats.SUM, label });
    const fnName = scanner.function.functionName;
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        width: 24,
        height: 2,
        markdown:
          `### dynamodb-kinesis-scanner: ${fnName} → ${scanner.stream.streamName}\n` +
          `\`${CLI} status ${functionFlagOf(scanner.function)} --watch\` · \`stop\` · \`resume\`. ` +
          'Each alarm says what it means and what to do; the README (Operations) has the runbook.',
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms], width: 24, height: 3 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Scan progress (per minute)',
        left: [
          perMinute(ScannerMetrics.itemsScanned, 'Items scanned'),
          perMinute(ScannerMetrics.recordsPut, 'Records put'),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Hand-offs and checkpoint writes (per minute)',
        left: [
          perMinute(ScannerMetrics.handOffs, 'Hand-offs'),
          perMinute(ScannerMetrics.checkpointWrites, 'Checkpoint writes'),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Stream writes: records per minute (all producers, and the scanner)',
        left: [
          stream(scanner.stream.metricIncomingRecords(), 'IncomingRecords (stream)'),
          perMinute(ScannerMetrics.recordsPut, 'Records put (scanner)'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stream writes: bytes per minute (all producers, and the scanner)',
        left: [
          stream(scanner.stream.metricIncomingBytes(), 'IncomingBytes (stream)'),
          perMinute(ScannerMetrics.bytesPut, 'Bytes put (scanner)'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Throttling (per minute)',
        left: [
          perMinute(ScannerMetrics.recordsThrottled, 'Records refused and resent (scanner)'),
          stream(
            scanner.stream.metricWriteProvisionedThroughputExceeded(),
            'WriteProvisionedThroughputExceeded',
          ),
        ],
        right: [throttledPercent.with({ period: minute })],
        rightYAxis: { min: 0, max: 100, label: '%', showUnits: false },
        rightAnnotations: [
          { value: THROTTLED_PERCENT_THRESHOLD, label: `alarm threshold (${THROTTLING_PERIODS} × 5 min)` },
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Function invocations (per minute)',
        left: [
          scanner.function.metricInvocations({ period: minute, statistic: cloudwatch.Stats.SUM }),
          scanner.function.metricErrors({ period: minute, statistic: cloudwatch.Stats.SUM }),
          scanner.function.metricThrottles({ period: minute, statistic: cloudwatch.Stats.SUM }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Function duration',
        left: [
          scanner.function.metricDuration({ period: minute, statistic: cloudwatch.Stats.AVERAGE }),
          scanner.function.metricDuration({ period: minute, statistic: cloudwatch.Stats.MAXIMUM }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Concurrent executions (chains, two while one hands off)',
        left: [
          scanner.function.metric('ConcurrentExecutions', {
            period: minute,
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Failed invocations queue (messages)',
        left: [
          scanner.failedInvocations.metricApproximateNumberOfMessagesVisible({
            period: minute,
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Segments relaunched by the watchdog, scans failed (per 5 minutes)',
        left: [
          scanner.metric(ScannerMetrics.segmentsStalled, {
            period: Duration.minutes(5),
            label: 'Segments stalled',
          }),
          scanner.metric(ScannerMetrics.scansFailed, { period: Duration.minutes(5), label: 'Scans failed' }),
        ],
        width: 8,
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Longest completed scan in the time range',
        metrics: [
          scanner.metric(ScannerMetrics.scanDuration, {
            statistic: cloudwatch.Stats.MAXIMUM,
            label: 'Scan duration',
          }),
        ],
        setPeriodToTimeRange: true,
        width: 8,
      }),
    );
    return dashboard;
  }
}
