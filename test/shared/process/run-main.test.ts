import { describe, expect, it } from 'vitest'
import { LakebaseError } from '../../../shared/client/errors.js'
import { ConfigError } from '../../../shared/process/config-error.js'
import { describeFatal, EXIT_CONFIG, EXIT_FAILURE } from '../../../shared/process/run-main.js'

describe('describeFatal: the one line and the exit code a failed command ends with', () => {
  it.each([
    [
      'a configuration error: 2, with its fix',
      new ConfigError('PORT must be a number', 'set PORT'),
      { code: EXIT_CONFIG, line: 'PORT must be a number — fix: set PORT' },
    ],
    [
      'a request-time error: 1, its code and the suggestion it carries',
      new LakebaseError(503, 'LAKEBASE_NOT_CONFIGURED', 'no client token', {
        technicalDetails: { suggestion: 'set LAKEBASE_BROKER_TOKEN' },
      }),
      {
        code: EXIT_FAILURE,
        line: 'LAKEBASE_NOT_CONFIGURED: no client token — fix: set LAKEBASE_BROKER_TOKEN',
      },
    ],
    [
      "a database error: 1, the server's own words and SQLSTATE, not the wrapper's",
      new Error('Failed query: create table …', {
        cause: Object.assign(new Error('permission denied for schema public'), { code: '42501' }),
      }),
      {
        code: EXIT_FAILURE,
        line: 'the database refused: permission denied for schema public (42501) — fix: grant the role CREATE on its schema, or keep search_path starting with "$user"',
      },
    ],
    [
      'anything else: 1, the message and its causes on one line',
      new Error('could not start', { cause: new Error('EADDRINUSE\nport taken') }),
      { code: EXIT_FAILURE, line: 'could not start: EADDRINUSE port taken' },
    ],
  ])('%s', (_name, err, expected) => {
    expect(describeFatal(err)).toEqual(expected)
  })
})
