import { z } from 'zod'
import { type Clock, systemClock } from '../../client/clock.js'
import { UpstreamError } from '../upstream-error.js'
import { callWorkspace, type WorkspaceHttpOptions } from '../workspace-http.js'
import type { TokenSource } from './cached-token.js'

/** A service principal's OAuth client credentials. */
export interface OAuthM2mCredentials {
  host: string
  clientId: string
  clientSecret: string
}

const discoverySchema = z.object({ token_endpoint: z.string().min(1) })

const tokenSchema = z.object({
  access_token: z.string().min(1),
  // Some OAuth servers send the number as a string; both mean seconds.
  expires_in: z.coerce.number().positive(),
})

/**
 * OAuth machine-to-machine (client credentials), as the Databricks SDKs do it: OIDC discovery at
 * `{host}/oidc/.well-known/oauth-authorization-server`, then a form POST to its `token_endpoint`
 * with HTTP Basic client authentication, `grant_type=client_credentials&scope=all-apis`.
 * Each call does both steps; the caching layer makes that once per token lifetime.
 *
 * A wrong id or secret is a permanent `unauthorized` UpstreamError carrying the upstream
 * `invalid_client`.
 */
export function oauthM2mTokenSource(
  credentials: OAuthM2mCredentials,
  options: WorkspaceHttpOptions = {},
): TokenSource {
  const clock: Clock = options.clock ?? systemClock
  const { host, clientId, clientSecret } = credentials
  return async (signal) => {
    const discovery = await callWorkspace(
      {
        method: 'GET',
        url: `${host}/oidc/.well-known/oauth-authorization-server`,
        operation: 'the OAuth discovery request',
        signal,
      },
      discoverySchema,
      options,
    )
    const tokenEndpoint = sameOriginEndpoint(host, discovery.token_endpoint)
    const requestedAt = clock.now()
    const basic = Buffer.from(
      `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`,
    ).toString('base64')
    const token = await callWorkspace(
      {
        method: 'POST',
        url: tokenEndpoint,
        authorization: `Basic ${basic}`,
        form: { grant_type: 'client_credentials', scope: 'all-apis' },
        operation: 'the OAuth M2M token request',
        signal,
        secrets: [clientSecret],
      },
      tokenSchema,
      options,
    )
    // Measured from the request, not the answer, so that the expiry is never overstated.
    return {
      accessToken: token.access_token,
      expiresAt: new Date(requestedAt + token.expires_in * 1000),
    }
  }
}

/**
 * The client secret goes to the token endpoint, so it must be the workspace's own: a discovery
 * answer pointing elsewhere (a misconfigured proxy, a spoofed response) must not receive it.
 */
function sameOriginEndpoint(host: string, endpoint: string): string {
  let url: URL
  try {
    url = new URL(endpoint, host)
  } catch {
    throw new UpstreamError(
      'malformed_response',
      'OAuth discovery gave a token endpoint that is not a URL',
    )
  }
  if (url.origin !== new URL(host).origin) {
    throw new UpstreamError(
      'malformed_response',
      `OAuth discovery gave a token endpoint on another host (${url.host}); the client secret is only sent to ${new URL(host).host}`,
    )
  }
  return url.href
}
