import { type HttpHandler, HttpResponse, http } from 'msw'
import { databricksError } from '../../../testing/script.js'
import { endpointResource, type MockWorkspace } from '../../../testing/workspace.js'

/** The Autoscaling listing calls, by the name they are counted under. */
export type ListingRoute = 'listProjects' | 'listBranches' | 'listEndpoints'

/** Handlers for listing a mock workspace's Autoscaling endpoints, and what they were asked. */
export interface AutoscalingListing {
  /** Add next to the workspace's own: `server.use(...ws.handlers, ...listing.handlers)`. */
  readonly handlers: HttpHandler[]
  readonly calls: Record<ListingRoute, number>
}

const DEFAULT_PAGE_SIZE = 50

/**
 * `GET /api/2.0/postgres/projects`, `…/projects/{p}/branches` and `…/branches/{b}/endpoints`
 * (paged with `page_size` / `page_token`, as the Postgres API does), answered from the
 * workspace's `endpoints` map, so that a change to an endpoint's state shows in the listing too.
 *
 * The kit's own bearer check is private to the workspace; these accept its PAT and any token it
 * minted (OAuth M2M access tokens included), which is what a listing test needs.
 */
export function autoscalingListing(workspace: MockWorkspace): AutoscalingListing {
  const calls: Record<ListingRoute, number> = { listProjects: 0, listBranches: 0, listEndpoints: 0 }
  const host = workspace.host
  const authorised = (request: Request) => {
    const match = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')
    const token = match?.[1]
    return token !== undefined && (token === workspace.pat || workspace.minted.includes(token))
  }
  const unauthenticated = () =>
    databricksError(
      401,
      'UNAUTHENTICATED',
      'Credential was not sent or was of an unsupported type.',
    )

  /** The distinct parents of the endpoint paths, cut after `depth` segments. */
  const names = (depth: number, prefix: string) => [
    ...new Set(
      [...workspace.endpoints.keys()]
        .map((name) => name.split('/').slice(0, depth).join('/'))
        .filter((name) => name.startsWith(prefix)),
    ),
  ]

  const handlers: HttpHandler[] = [
    http.get(`${host}/api/2.0/postgres/projects`, ({ request }) => {
      calls.listProjects++
      if (!authorised(request)) return unauthenticated()
      return page(request, 'projects', names(2, 'projects/'))
    }),
    http.get(`${host}/api/2.0/postgres/projects/:project/branches`, ({ request, params }) => {
      calls.listBranches++
      if (!authorised(request)) return unauthenticated()
      const project = `projects/${String(params.project)}`
      if (!names(2, 'projects/').includes(project))
        return databricksError(404, 'NOT_FOUND', `Project '${project}' not found.`)
      return page(request, 'branches', names(4, `${project}/branches/`))
    }),
    http.get(
      `${host}/api/2.0/postgres/projects/:project/branches/:branch/endpoints`,
      ({ request, params }) => {
        calls.listEndpoints++
        if (!authorised(request)) return unauthenticated()
        const branch = `projects/${String(params.project)}/branches/${String(params.branch)}`
        const endpoints = [...workspace.endpoints.values()]
          .filter((e) => e.name.startsWith(`${branch}/endpoints/`))
          .map(endpointResource)
        return page(request, 'endpoints', endpoints)
      },
    ),
  ]
  return { handlers, calls }
}

function page(request: Request, key: string, items: ReadonlyArray<string | object>): Response {
  const url = new URL(request.url)
  const size = Number(url.searchParams.get('page_size') ?? DEFAULT_PAGE_SIZE)
  const offset = Number(url.searchParams.get('page_token') ?? '0')
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(offset) || offset < 0) {
    return databricksError(400, 'INVALID_PARAMETER_VALUE', 'bad page_size or page_token')
  }
  const slice = items.slice(offset, offset + size)
  const next = offset + size < items.length ? String(offset + size) : undefined
  return HttpResponse.json({
    [key]: slice.map((item) => (typeof item === 'string' ? { name: item } : item)),
    ...(next === undefined ? {} : { next_page_token: next }),
  })
}
