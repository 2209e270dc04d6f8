import { type HttpHandler, HttpResponse, http } from 'msw'
import type { WorkspaceContext } from './context.js'
import { route } from './route.js'

/**
 * `GET /api/2.0/preview/scim/v2/Me`: the caller as SCIM describes it, `userName` being its
 * identity (a user's email, or a service principal's client id).
 */
export function scimHandlers(context: WorkspaceContext): HttpHandler[] {
  return [
    http.get(
      `${context.host}/api/2.0/preview/scim/v2/Me`,
      route(context, 'scimMe', 'bearer', ({ caller }) =>
        HttpResponse.json({
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          id: '1234567890',
          userName: caller?.user,
          displayName: caller?.user,
          active: true,
          ...(caller?.user.includes('@')
            ? { emails: [{ value: caller.user, primary: true, type: 'work' }] }
            : {}),
        }),
      ),
    ),
  ]
}
