/** The workspace auth interface, shared with the functions; re-exported for the broker. */
export type * from '../../shared/databricks/workspace-auth.js'
