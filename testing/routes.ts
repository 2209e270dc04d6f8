/**
 * Every workspace call the broker makes (see reference/databricks.md), by the name the kit counts
 * and scripts it under.
 */
export const MOCK_ROUTES = [
  /** `POST /api/2.0/database/credentials` (Provisioned) */
  'databaseCredentials',
  /** `GET /api/2.0/database/instances` (paged) */
  'listInstances',
  /** `GET /api/2.0/database/instances/{name}` */
  'getInstance',
  /** `POST /api/2.0/postgres/credentials` (Autoscaling) */
  'postgresCredentials',
  /** `GET /api/2.0/postgres/projects/{p}/branches/{b}/endpoints/{e}` */
  'getEndpoint',
  /** `GET /oidc/.well-known/oauth-authorization-server` */
  'oidcDiscovery',
  /** `POST /oidc/v1/token` (client credentials) */
  'oidcToken',
  /** `GET /api/2.0/preview/scim/v2/Me` */
  'scimMe',
  /** `POST {Entra ID}/{tenant}/oauth2/v2.0/token` (an Azure service principal's client credentials) */
  'azureToken',
] as const
export type MockRoute = (typeof MOCK_ROUTES)[number]

/** The OAuth routes answer errors in OAuth's shape (`error`, `error_description`). */
export const OAUTH_ROUTES: ReadonlySet<MockRoute> = new Set([
  'oidcDiscovery',
  'oidcToken',
  'azureToken',
])
