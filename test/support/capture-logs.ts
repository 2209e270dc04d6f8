import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../shared/process/logger.js'

/** A logger whose lines are kept in memory, to search them for secrets. */
export function captureLogs(name = 'test'): {
  logger: Logger
  lines: string[]
  text: () => string
} {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk))
      done()
    },
  })
  const logger = createLogger({ name, level: 'trace', destination })
  return { logger, lines, text: () => lines.join('') }
}
