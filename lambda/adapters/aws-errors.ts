import { FatalScanError, TransientError } from '../core/errors';

/** Error names that no retry can fix: permissions, missing resources, invalid requests, keys. */
const FATAL_ERRORS = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'CredentialsProviderError',
  'ResourceNotFoundException',
  'ValidationException',
  'InvalidArgumentException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'ParameterNotFound',
  'ParameterLimitExceeded',
  'ParameterMaxVersionLimitExceeded',
  'ParameterPatternMismatchException',
  'HierarchyLevelLimitExceededException',
  'HierarchyTypeMismatchException',
  'UnsupportedParameterType',
  'InvalidParameterValueException',
  'InvalidRequestContentException',
  'RecursiveInvocationException',
  'RequestTooLargeException',
]);

/** Translates an SDK error into the scanner's error family, keeping it as `cause`. */
export function translateAwsError(error: unknown, operation: string): FatalScanError | TransientError {
  if (error instanceof FatalScanError || error instanceof TransientError) return error;
  const name = error instanceof Error ? error.name : 'UnknownError';
  const message = `${operation} failed: ${name}: ${error instanceof Error ? error.message : String(error)}`;
  return FATAL_ERRORS.has(name)
    ? new FatalScanError(message, { cause: error })
    : new TransientError(message, { cause: error });
}

export function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
