export { MOCK_ROUTES, type MockRoute } from './routes.js'
export { databricksError, oauthError, type ScriptStep } from './script.js'
export { type MockWorkspaceServer, serveMockWorkspace } from './serve.js'
export { type MintClaims, TokenMinter } from './tokens.js'
export {
  createMockWorkspace,
  type EndpointState,
  type InstanceState,
  type MintedCredential,
  type MockEndpoint,
  type MockInstance,
  type MockWorkspace,
  type MockWorkspaceOptions,
  type RecordedRequest,
} from './workspace.js'
