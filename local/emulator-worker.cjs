// An emulator (dynalite or kinesalite) in a worker thread of its own, as a separate service would
// be: its CPU then runs beside the caller's instead of sharing one event loop with it. Posts the
// port it listens on.
const { parentPort, workerData } = require('node:worker_threads');

// `module` is the resolved path of dynalite or kinesalite.
const server = require(workerData.module)(workerData.options);
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
