/**
 * The scan's control actions, one file each: start (`scan-start.ts`), stop and resume
 * (`scan-stop-resume.ts`), status (`scan-status.ts`), completion (`scan-completion.ts`) and the
 * watchdog (`watchdog.ts`), with what they share in `control-common.ts`.
 */
export { type ControlConfig, failScan } from './control-common';
export { completeScanIfDone, settleStoppingScan } from './scan-completion';
export { listScans } from './scan-history';
export { autoSegments, checkAgainstSegments, type StartOptions, startScan } from './scan-start';
export { getStatus } from './scan-status';
export { resumeScan, stopScan } from './scan-stop-resume';
export { runWatchdog, type WatchdogReport } from './watchdog';
