/**
 * The fault kit, for your own tests (`import … from 'lakebase-broker/testing'`): a mock
 * Databricks workspace as MSW handlers (every Lakebase call the broker makes, real minted JWTs,
 * call counters), a catalogue of faults to script per call, a loopback server for code in another
 * process, and a clock the test moves by hand. Needs `msw` (2.x or 3.x) installed next to it;
 * `onUnhandled()` gives `server.listen()` options that mean the same on both.
 */
export {
  DEFAULT_FAULT_LATENCY_MS,
  DEFAULT_RETRY_AFTER_S,
  ESSENTIAL_FIELDS,
  FAULT_KINDS,
  FAULTS,
  type FaultClass,
  type FaultInfo,
  type FaultKind,
  type FaultOptions,
  type FaultTarget,
  faultStep,
  injectFault,
} from './faults.js'
export { flush, MANUAL_CLOCK_START, ManualClock } from './manual-clock.js'
export { MOCK_ROUTES, type MockRoute } from './routes.js'
export { databricksError, oauthError, type ScriptStep } from './script.js'
export { type MockWorkspaceServer, serveMockWorkspace } from './serve.js'
export { type MintClaims, TokenMinter } from './tokens.js'
export { onUnhandled, type UnhandledOptions, type UnhandledStrategy } from './unhandled.js'
export {
  connectionReset,
  createMockWorkspace,
  type EndpointState,
  type EndpointType,
  endpointResource,
  type InstanceState,
  type MintedCredential,
  type MockEndpoint,
  type MockInstance,
  type MockWorkspace,
  type MockWorkspaceOptions,
  type RecordedRequest,
} from './workspace.js'
