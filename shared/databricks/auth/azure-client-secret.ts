import { z } from 'zod'
import { type Clock, systemClock } from '../../client/clock.js'
import { callWorkspace, type WorkspaceHttpOptions } from '../workspace-http.js'
import { AZURE_DATABRICKS_SCOPE } from './azure.js'
import type { TokenSource } from './cached-token.js'

/** An Entra ID service principal's client credentials, and where it signs in. */
export interface AzureClientSecretCredentials {
  tenantId: string
  clientId: string
  clientSecret: string
  /** The sign-in origin, e.g. `https://login.microsoftonline.com` (`AZURE_AUTHORITY_HOST`). */
  loginHost: string
}

const tokenSchema = z.object({
  access_token: z.string().min(1),
  // Entra ID sends a number; some proxies a string. Both mean seconds.
  expires_in: z.coerce.number().positive(),
})

/**
 * An Entra ID service principal (the Databricks SDKs' `azure-client-secret`): a form POST to
 * `{loginHost}/{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, the client id
 * and secret in the body, and the scope of the Azure Databricks resource. The workspace accepts
 * the access token as a bearer token once the principal is added to it.
 *
 * A wrong secret is a permanent `unauthorized` UpstreamError carrying Entra ID's
 * `invalid_client`; the secret is never repeated in a message.
 */
export function azureClientSecretTokenSource(
  credentials: AzureClientSecretCredentials,
  options: WorkspaceHttpOptions = {},
): TokenSource {
  const clock: Clock = options.clock ?? systemClock
  const { tenantId, clientId, clientSecret, loginHost } = credentials
  const url = `${loginHost}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`
  return async (signal) => {
    const requestedAt = clock.now()
    const token = await callWorkspace(
      {
        method: 'POST',
        url,
        form: {
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: clientSecret,
          scope: AZURE_DATABRICKS_SCOPE,
        },
        operation: 'the Entra ID token request',
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
