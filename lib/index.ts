/**
 * `dynamodb-kinesis-scanner`: the construct, its stack, and what a CDK app uses with them. The
 * consumer side is `dynamodb-kinesis-scanner/consumer`; the invoke payloads and responses are
 * `dynamodb-kinesis-scanner/contract`.
 */

export { ScannerMetrics } from '../lambda/contract';
export { AlarmTopic, type AlarmTopicProps } from './alarm-topic';
export {
  DynamoDbKinesisScanner,
  type DynamoDbKinesisScannerProps,
  reservedConcurrencyFor,
  type ScannerMetricName,
} from './dynamodb-kinesis-scanner';
export type { ScanConsumer, ScanConsumerOptions } from './scan-consumer';
export { ScannerMonitoring, type ScannerMonitoringProps } from './scanner-monitoring';
export { readStackContext, ScannerStack, type ScannerStackProps, type StackContext } from './scanner-stack';
