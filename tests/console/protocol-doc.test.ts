import { readFileSync } from 'node:fs'
import t from 'tap'
import { createRegistry } from '../../firmware/commands/index.ts'
import { FakeAppliance } from '../commands/fake-appliance.ts'

t.test('docs/console-protocol.md documents every command and every console error code', async (t) => {
  const doc = readFileSync('docs/console-protocol.md', 'utf8')
  for (const s of createRegistry(new FakeAppliance()).list()) t.match(doc, new RegExp(`^### ${s.name}$`, 'm'), `${s.name} has a section`)
  for (const code of [
    'FW_ERR_UNKNOWN_COMMAND',
    'FW_ERR_BAD_ARG',
    'FW_ERR_PERMISSION',
    'FW_ERR_CONFIRM_REQUIRED',
    'FW_ERR_NOT_AVAILABLE',
    'FW_ERR_COMMAND_FAILED',
    'FW_ERR_LINE_TOO_LONG',
    'FW_ERR_BAD_INPUT',
    'FW_ERR_RATE_LIMITED',
    'FW_ERR_PIN',
  ]) {
    t.match(doc, new RegExp(`^\\| ${code} \\|`, 'm'), `${code} is in the table`)
  }
})
