// The benchmark's fast Kinesis (fast-kinesis.ts) in a worker thread of its own, as a separate
// service would be. The bench runs under tsx; a worker needs its TypeScript loader registered.
require('tsx/cjs');
require('./fast-kinesis.ts')
  .runFastKinesisWorker()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
