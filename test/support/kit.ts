/**
 * The test kit: what most test files reach for, from one import. Each piece lives in a file of
 * its own, named for it; this file only re-exports.
 */
export { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from './broker.js'
export { brokerApp } from './broker-app.js'
export { captureLogs } from './capture-logs.js'
export { type Deferred, deferred } from './deferred.js'
export { errorCodeOf } from './error-body.js'
export { freePort } from './free-port.js'
export { rejectionOf } from './rejection.js'
export { type WaitForOptions, waitFor } from './wait-for.js'
