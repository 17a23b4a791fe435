// How a person runs this firmware from where it is: `firmware` on a unit (the single binary),
// `npx firmware` in a source checkout. Used in hints such as "run ... provision init".
import { isSea } from 'node:sea'

export function selfCommand(): string {
  return isSea() ? 'firmware' : 'npx firmware'
}
