import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ConfigError } from '../../../shared/process/config-error.js'
import {
  numberSetting,
  parseSettings,
  setting,
  settingsHelp,
  settingsTable,
} from '../../../shared/process/settings.js'

const settings = {
  DRAIN_S: setting(numberSetting().min(0).default(2), 'drain this long'),
  NAME: setting(z.string().optional(), 'a name, `any`', 'the host name'),
}

describe('settings', () => {
  it('parse from the environment, blank counting as unset, with the defaults filled in', () => {
    expect(parseSettings(settings, { DRAIN_S: '  ', NAME: ' x ' })).toEqual({
      DRAIN_S: 2,
      NAME: 'x',
    })
    expect(parseSettings(settings, { DRAIN_S: '0.5' })).toEqual({ DRAIN_S: 0.5, NAME: undefined })
  })

  it.each(['NaN', 'Infinity', 'two', '-1'])('refuse DRAIN_S=%s, naming the variable', (value) => {
    expect(() => parseSettings(settings, { DRAIN_S: value })).toThrow(ConfigError)
    expect(() => parseSettings(settings, { DRAIN_S: value })).toThrow(/^invalid setting: DRAIN_S /)
  })

  it('document the same defaults in --help and in the README table', () => {
    expect(settingsHelp(settings)).toBe(
      [
        '  DRAIN_S  drain this long (default: 2)',
        '  NAME     a name, any (default: the host name)',
      ].join('\n'),
    )
    expect(settingsTable(settings)).toBe(
      [
        '| variable | default | what it does |',
        '|---|---|---|',
        '| `DRAIN_S` | `2` | drain this long |',
        '| `NAME` | the host name | a name, `any` |',
      ].join('\n'),
    )
  })
})
