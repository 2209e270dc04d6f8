/**
 * The application id of the Azure Databricks resource in Entra ID: the audience every Azure
 * Databricks workspace accepts tokens for, the same in every tenant and cloud.
 */
export const AZURE_DATABRICKS_RESOURCE_ID = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d'

/** The OAuth 2.0 v2 scope that asks Entra ID for a token for that resource. */
export const AZURE_DATABRICKS_SCOPE = `${AZURE_DATABRICKS_RESOURCE_ID}/.default`
