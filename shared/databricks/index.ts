/**
 * `lakebase-broker/workspace`: Databricks workspace calls signed in as the broker signs in (PAT,
 * OAuth M2M, Azure, Databricks CLI, config profile), sharing its workspace token when both run in
 * one process. Today that is model serving: list endpoints and invoke them, with a deadline, each
 * failure classified as an {@link UpstreamError}.
 */
export {
  type CallAs,
  type Invocation,
  ServingClient,
  type ServingEndpoint,
} from './serving-client.js'
export { type ServingClientFromEnvOptions, servingClient } from './serving-connect.js'
export { type ErrorClass, toUpstreamError, UpstreamError } from './upstream-error.js'
