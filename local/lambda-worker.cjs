// A local Lambda "container": a worker thread that loads one handler module (TypeScript, through
// tsx) and runs one invocation at a time, like a Lambda execution environment. The local Lambda
// endpoint terminates the worker to kill an invocation or enforce its timeout.
const { parentPort, workerData } = require('node:worker_threads');
require('tsx/cjs');

const handler = require(workerData.modulePath)[workerData.exportName];
if (typeof handler !== 'function') {
  throw new Error(`${workerData.modulePath} exports no function ${workerData.exportName}`);
}

// Lambda's init phase does not count toward an invocation's timeout: say when loading is done.
parentPort.postMessage({ ready: true });

parentPort.on('message', async ({ event, deadline, context }) => {
  const lambdaContext = { ...context, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
  try {
    const result = await handler(event, lambdaContext);
    parentPort.postMessage({
      ok: true,
      result: result === undefined ? null : JSON.parse(JSON.stringify(result)),
    });
  } catch (error) {
    parentPort.postMessage({
      ok: false,
      errorType: error instanceof Error ? error.name : 'Error',
      errorMessage: error instanceof Error ? error.message : String(error),
    });
  }
});
