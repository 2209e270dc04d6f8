import { type HttpHandler, HttpResponse, http } from 'msw'
import { oauthError } from '../script.js'
import type { WorkspaceContext } from './context.js'
import { route } from './route.js'

/** The workspace's own OAuth client (a Databricks service principal's OAuth secret). */
export interface OAuthSettings {
  clientId: string
  clientSecret: string
  /** `expires_in` of the access tokens, seconds. */
  workspaceTokenLifetimeS: number
}

/**
 * The workspace's OIDC server for OAuth M2M: `GET /oidc/.well-known/oauth-authorization-server`
 * and `POST /oidc/v1/token` (client credentials, Basic authentication, scope `all-apis`). Each
 * access token it issues is a bearer the other routes accept, as the client id, until it expires.
 */
export function oauthHandlers(context: WorkspaceContext, settings: OAuthSettings): HttpHandler[] {
  const { host } = context
  return [
    http.get(
      `${host}/oidc/.well-known/oauth-authorization-server`,
      route(context, 'oidcDiscovery', 'public', () =>
        HttpResponse.json({
          issuer: `${host}/oidc`,
          authorization_endpoint: `${host}/oidc/v1/authorize`,
          token_endpoint: `${host}/oidc/v1/token`,
          grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token'],
        }),
      ),
    ),
    http.post(
      `${host}/oidc/v1/token`,
      route(context, 'oidcToken', 'public', async ({ request, body, step }) => {
        if (!request.headers.get('content-type')?.startsWith('application/x-www-form-urlencoded')) {
          return oauthError(400, 'invalid_request', 'expected a form-encoded body')
        }
        const presented = basicCredentials(request.headers.get('authorization'))
        if (presented?.id !== settings.clientId || presented.secret !== settings.clientSecret) {
          return oauthError(401, 'invalid_client', 'Client authentication failed')
        }
        const form = new URLSearchParams(body ?? '')
        if (form.get('grant_type') !== 'client_credentials') {
          return oauthError(400, 'unsupported_grant_type', 'only client_credentials is supported')
        }
        if (form.get('scope') !== 'all-apis')
          return oauthError(400, 'invalid_scope', 'scope must be all-apis')
        const lifetimeS = step.lifetimeS ?? settings.workspaceTokenLifetimeS
        const accessToken = await context.issueAccessToken(settings.clientId, lifetimeS)
        return HttpResponse.json({
          access_token: accessToken,
          token_type: 'Bearer',
          expires_in: lifetimeS,
          scope: 'all-apis',
        })
      }),
    ),
  ]
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64. */
function basicCredentials(header: string | null): { id: string; secret: string } | undefined {
  const match = /^Basic (.+)$/.exec(header ?? '')
  if (match?.[1] === undefined) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const formDecode = (s: string) => decodeURIComponent(s.replaceAll('+', ' '))
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    return undefined
  }
}
