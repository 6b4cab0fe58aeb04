import { createFailureCounterHandler } from '../consumer/failure-counter';

/** Counts the records of tracked consumers' batches that failed every retry (`trackProgress`). */
export const handler = createFailureCounterHandler();
