import { listProvisionedInstances } from '../../shared/databricks/list-databases.js'
import type { BoundWorkspaceCall } from '../../shared/databricks/workspace-http.js'

/**
 * The Lakebase Provisioned instance whose `read_write_dns` is `host`, or undefined.
 *
 * A Databricks App's database resource sets `PGHOST` to the instance's host (and `valueFrom` on
 * it gives the host too), never the instance's name, which the credential call needs. app.yaml
 * names it in `LAKEBASE_INSTANCE_NAME`; when that is missing, this finds it from `PGHOST`.
 */
export async function instanceForHost(
  call: BoundWorkspaceCall,
  host: string,
): Promise<string | undefined> {
  const wanted = host.trim().toLowerCase()
  const instances = await listProvisionedInstances(call)
  return instances.find((instance) => instance.host?.toLowerCase() === wanted)?.name
}
