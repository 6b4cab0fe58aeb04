/**
 * `dynamodb-kinesis-scanner/consumer`: what a consumer Lambda imports. It reaches neither
 * aws-cdk-lib nor the scanner, so a consumer's bundle holds only what it uses.
 */

export type { ScanRecordMetadata } from '../contract';
export type { AttributeMap, AttributeValue } from '../core/attribute-value';
export { type ConsumerOptions, createConsumerHandler } from './consumer-handler';
export {
  isScanRecord,
  NotAScanRecordError,
  parseScanRecord,
  type ScanStreamRecord,
} from './parse-scan-record';
