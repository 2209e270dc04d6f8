import { type HttpHandler, HttpResponse, http } from 'msw'
import { oauthError } from '../script.js'
import type { WorkspaceContext } from './context.js'
import { route } from './route.js'

/** Entra ID in Azure's public cloud. */
export const DEFAULT_AZURE_LOGIN_HOST = 'https://login.microsoftonline.com'
/** The Azure Databricks resource a workspace token must be asked for. */
const AZURE_DATABRICKS_SCOPE = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default'

/** The Entra ID tenant and the Azure service principal it signs in. */
export interface AzureSettings {
  /** Entra ID's sign-in origin, without a trailing slash. */
  loginHost: string
  tenantId: string
  clientId: string
  clientSecret: string
  /** `expires_in` of the access tokens, seconds. */
  workspaceTokenLifetimeS: number
}

/**
 * Entra ID's token endpoint, `POST {login host}/{tenant}/oauth2/v2.0/token`, for an Azure service
 * principal's client secret (form-encoded, scope the Azure Databricks resource). Each access token
 * it issues is a bearer the workspace's routes accept, as the client id, until it expires.
 */
export function azureHandlers(context: WorkspaceContext, settings: AzureSettings): HttpHandler[] {
  return [
    http.post(
      `${settings.loginHost}/:tenant/oauth2/v2.0/token`,
      route(context, 'azureToken', 'public', async ({ request, params, body, step }) => {
        if (!request.headers.get('content-type')?.startsWith('application/x-www-form-urlencoded')) {
          return oauthError(400, 'invalid_request', 'AADSTS900144: expected a form-encoded body')
        }
        if (params.tenant !== settings.tenantId) {
          return oauthError(
            400,
            'invalid_tenant',
            `AADSTS90002: Tenant '${params.tenant}' not found.`,
          )
        }
        const form = new URLSearchParams(body ?? '')
        if (form.get('grant_type') !== 'client_credentials') {
          return oauthError(400, 'unsupported_grant_type', 'AADSTS70003: unsupported grant type')
        }
        if (
          form.get('client_id') !== settings.clientId ||
          form.get('client_secret') !== settings.clientSecret
        ) {
          return oauthError(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.')
        }
        if (form.get('scope') !== AZURE_DATABRICKS_SCOPE) {
          return oauthError(
            400,
            'invalid_scope',
            'AADSTS70011: the scope must be the Azure Databricks resource',
          )
        }
        const lifetimeS = step.lifetimeS ?? settings.workspaceTokenLifetimeS
        const accessToken = await context.issueAccessToken(settings.clientId, lifetimeS)
        return HttpResponse.json({
          token_type: 'Bearer',
          expires_in: lifetimeS,
          ext_expires_in: lifetimeS,
          access_token: accessToken,
        })
      }),
    ),
  ]
}

/** The variables that sign the broker in as this service principal. */
export function azureEnv(settings: AzureSettings): Record<string, string> {
  return {
    ARM_CLIENT_ID: settings.clientId,
    ARM_CLIENT_SECRET: settings.clientSecret,
    ARM_TENANT_ID: settings.tenantId,
    ...(settings.loginHost === DEFAULT_AZURE_LOGIN_HOST
      ? {}
      : { AZURE_AUTHORITY_HOST: settings.loginHost }),
  }
}
