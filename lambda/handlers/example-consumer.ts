import { createConsumerHandler } from '../consumer/consumer-handler';

/** The example consumer: logs each item's key, once per record id (`exampleConsumer: true`). */
export const handler = createConsumerHandler();
