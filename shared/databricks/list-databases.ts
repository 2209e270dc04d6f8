import { z } from 'zod'
import {
  type EndpointFacts,
  endpointFacts,
  endpointStatusSchema,
  lookUpEndpoint,
} from './autoscaling.js'
import { AUTOSCALING_CONNECTABLE, PROVISIONED_CONNECTABLE } from './database-state.js'
import type { ListedHosts } from './host-check.js'
import { type InstanceFacts, instanceFacts, instanceSchema, lookUpInstance } from './provisioned.js'
import { UpstreamError } from './upstream-error.js'
import type { BoundWorkspaceCall } from './workspace-http.js'

/** Items asked for per page: the Provisioned list allows up to 50, the Autoscaling list 100. */
export const LIST_PAGE_SIZE = 50
/**
 * A workspace has a handful of databases; a listing still paging after this many pages is a
 * server handing out the same page token again, not a big workspace.
 */
export const MAX_LIST_PAGES = 100

/** A Lakebase database a user may pick: a Provisioned instance or an Autoscaling endpoint. */
export interface LakebaseDatabase {
  kind: 'provisioned' | 'autoscaling'
  /** The instance name, or the endpoint path `projects/<p>/branches/<b>/endpoints/<e>`. */
  name: string
  /** `AVAILABLE`, `STARTING`, … (Provisioned); `ACTIVE`, `IDLE`, … (Autoscaling). */
  state: string | undefined
  /** Whether that state accepts connections now (an IDLE endpoint wakes on connect). */
  ready: boolean
  /** The host to connect to, when the workspace said. */
  host: string | undefined
  /** Every host it lists: read-write, read-only and (Autoscaling) pooled. */
  hosts: ListedHosts
  /** e.g. `CU_1`, Provisioned only. */
  capacity?: string | undefined
  /** An Autoscaling endpoint's `status.disabled`: no connection wakes it. */
  disabled?: boolean | undefined
  /** An Autoscaling endpoint's type: `ENDPOINT_TYPE_READ_WRITE` or `ENDPOINT_TYPE_READ_ONLY`. */
  endpointType?: string | undefined
}

const namedInstanceSchema = instanceSchema.extend({ name: z.string() })
const endpointSchema = z.object({ name: z.string(), status: endpointStatusSchema.optional() })

const instancePageSchema = z.object({
  database_instances: z.array(namedInstanceSchema).default([]),
  next_page_token: z.string().optional(),
})

const named = z.object({ name: z.string() })
const projectPageSchema = z.object({
  projects: z.array(named).default([]),
  next_page_token: z.string().optional(),
})
const branchPageSchema = z.object({
  branches: z.array(named).default([]),
  next_page_token: z.string().optional(),
})
const endpointPageSchema = z.object({
  endpoints: z.array(endpointSchema).default([]),
  next_page_token: z.string().optional(),
})

/** Every Lakebase Provisioned instance the caller can see: `GET /api/2.0/database/instances`, paged. */
export async function listProvisionedInstances(
  call: BoundWorkspaceCall,
): Promise<LakebaseDatabase[]> {
  const pages = await allPages(
    (token) =>
      call(
        {
          method: 'GET',
          path: `/api/2.0/database/instances?${pageQuery(token)}`,
          operation: 'the list of database instances',
        },
        instancePageSchema,
      ),
    (page) => page.database_instances,
  )
  return pages.map((instance) => instanceDatabase(instance.name, instanceFacts(instance)))
}

/**
 * Every Lakebase Autoscaling endpoint the caller can see, walking projects → branches →
 * endpoints (`GET /api/2.0/postgres/projects`, `…/{project}/branches`, `…/{branch}/endpoints`).
 */
export async function listAutoscalingEndpoints(
  call: BoundWorkspaceCall,
): Promise<LakebaseDatabase[]> {
  const projects = await allPages(
    (token) =>
      call(
        {
          method: 'GET',
          path: `/api/2.0/postgres/projects?${pageQuery(token)}`,
          operation: 'the list of Lakebase projects',
        },
        projectPageSchema,
      ),
    (page) => page.projects,
  )
  const found: LakebaseDatabase[] = []
  for (const project of projects) {
    const branches = await allPages(
      (token) =>
        call(
          {
            method: 'GET',
            path: `/api/2.0/postgres/${resourcePath(project.name)}/branches?${pageQuery(token)}`,
            operation: `the list of branches of ${project.name}`,
          },
          branchPageSchema,
        ),
      (page) => page.branches,
    )
    for (const branch of branches) {
      const endpoints = await allPages(
        (token) =>
          call(
            {
              method: 'GET',
              path: `/api/2.0/postgres/${resourcePath(branch.name)}/endpoints?${pageQuery(token)}`,
              operation: `the list of endpoints of ${branch.name}`,
            },
            endpointPageSchema,
          ),
        (page) => page.endpoints,
      )
      for (const endpoint of endpoints) {
        found.push(endpointDatabase(endpoint.name, endpointFacts(endpoint.status)))
      }
    }
  }
  return found
}

/**
 * One named database, looked up directly (`GET /api/2.0/database/instances/{name}` or
 * `GET /api/2.0/postgres/{endpoint}`), whatever its state.
 *
 * @throws UpstreamError `not_found` (with the upstream code) when there is no such database.
 */
export async function getDatabase(
  call: BoundWorkspaceCall,
  kind: LakebaseDatabase['kind'],
  name: string,
): Promise<LakebaseDatabase> {
  return kind === 'provisioned'
    ? instanceDatabase(name, await lookUpInstance(call, name))
    : endpointDatabase(name, await lookUpEndpoint(call, name))
}

function instanceDatabase(name: string, instance: InstanceFacts): LakebaseDatabase {
  const { state, capacity, ...hosts } = instance
  return {
    kind: 'provisioned',
    name,
    state,
    ready: state !== undefined && PROVISIONED_CONNECTABLE.has(state),
    host: hosts.host,
    hosts,
    capacity,
  }
}

function endpointDatabase(name: string, endpoint: EndpointFacts): LakebaseDatabase {
  const { state, disabled, type, ...hosts } = endpoint
  return {
    kind: 'autoscaling',
    name,
    state,
    ready: state !== undefined && AUTOSCALING_CONNECTABLE.has(state) && disabled !== true,
    host: hosts.host,
    hosts,
    disabled,
    endpointType: type,
  }
}

async function allPages<P extends { next_page_token?: string | undefined }, T>(
  fetchPage: (token: string | undefined) => Promise<P>,
  items: (page: P) => T[],
): Promise<T[]> {
  const all: T[] = []
  let token: string | undefined
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const answer = await fetchPage(token)
    all.push(...items(answer))
    token = answer.next_page_token || undefined
    if (token === undefined) return all
  }
  throw new UpstreamError(
    'malformed_response',
    `the workspace kept paging after ${MAX_LIST_PAGES} pages`,
  )
}

function pageQuery(token: string | undefined): string {
  const query = new URLSearchParams({ page_size: String(LIST_PAGE_SIZE) })
  if (token !== undefined) query.set('page_token', token)
  return query.toString()
}

/** `projects/p/branches/b` as a URL path, each segment encoded. */
function resourcePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/')
}
