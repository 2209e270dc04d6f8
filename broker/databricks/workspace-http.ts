/** Workspace HTTP calls, shared with the functions; re-exported for the broker's Lakebase calls. */
export * from '../../shared/databricks/workspace-http.js'
