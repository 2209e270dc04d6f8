import { relative } from 'node:path'
import { expect, inject } from 'vitest'
import { ROOT } from './process.js'
import { FILE_ENV, RUN_ENV } from './process-registry.js'

// Set in this worker's environment, not in the process that forked it: everything a test starts
// from here on inherits the run's marker and its file's name, and the worker itself (started
// without them) does not count as a leftover. See test/support/global-leaks.ts.
process.env[RUN_ENV] = inject('processRun')
const file = expect.getState().testPath
if (file !== undefined) process.env[FILE_ENV] = relative(ROOT, file)
