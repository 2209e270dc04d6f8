/**
 * Why a credential fetch failed. Defined in shared/ because the workspace calls and workspace
 * auth that throw it are shared with the functions (model serving); the broker imports it here.
 */
export * from '../shared/provider-error.js'
