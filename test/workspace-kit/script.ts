// The kit lives in testing/ (the package's `./testing` export); this path is kept for old imports.
export * from '../../testing/script.js'
