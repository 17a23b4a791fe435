// The input trims: set one, show one or all.
import { spec } from '../types.ts'
import { inputs, num } from './args.ts'

export const trim = spec({
  name: 'trim',
  summary: 'set an input trim in dB',
  examples: ['trim 3 4.5'],
  permission: 'operate',
  args: [
    { name: 'input', type: 'int', min: 1, max: inputs, help: 'input number, from 1' },
    { name: 'db', type: 'number', min: -24, max: 24, unit: 'dB', help: 'trim in dB, -24 to +24' },
  ],
  handler: (args, { app, principal }) => {
    app.setInputTrim(num(args, 'input') - 1, num(args, 'db'), principal.name)
    return { input: args.input, trim: args.db }
  },
})

export const inputShow = spec({
  name: 'input show',
  summary: 'input trims in dB, of one input or of all',
  examples: ['input show', 'input show 3'],
  permission: 'observe',
  args: [{ name: 'input', type: 'int', min: 1, max: inputs, optional: true, help: 'input number, from 1 (default: all)' }],
  handler: (args, { app }) => {
    const trims = app.inputTrims().map((db, k) => ({ input: k + 1, trim: db }))
    return args.input === undefined ? trims : trims[num(args, 'input') - 1]
  },
})
