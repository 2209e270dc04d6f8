/** Workspace auth resolution, shared with the functions; re-exported for the broker's providers. */
export * from '../../../shared/databricks/auth/resolve.js'
