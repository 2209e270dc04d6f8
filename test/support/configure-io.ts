import type { ConfigureIo } from '../../cli/setup/configure.js'

/** `configure`'s surroundings in-process: its output kept, no terminal, and no prompt expected. */
export function configureIo(overrides: Partial<ConfigureIo> & { cwd: string }) {
  const lines: string[] = []
  const io: ConfigureIo = {
    env: { HOME: overrides.cwd },
    out: (text) => lines.push(text),
    interactive: false,
    select: async () => {
      throw new Error('no prompt expected')
    },
    input: async () => {
      throw new Error('no prompt expected')
    },
    ...overrides,
  }
  return { io, output: () => lines.join('\n') }
}
