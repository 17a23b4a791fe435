// Questions across the worker boundary: each gets an id, its answer resolves it. Ids start at 1 in
// every instance, so a new worker never takes an old worker's answer for its own.
export class PendingAnswers<T> {
  #nextId = 1
  readonly #waiting = new Map<number, (value: T) => void>()

  /** Sends a question with a new id (through `send`) and waits for its answer. */
  ask(send: (id: number) => void): Promise<T> {
    return new Promise((resolve) => {
      const id = this.#nextId++
      this.#waiting.set(id, resolve)
      send(id)
    })
  }

  /** Resolves the question `id`; an unknown or already answered id is ignored. */
  answer(id: number, value: T): void {
    const r = this.#waiting.get(id)
    this.#waiting.delete(id)
    r?.(value)
  }

  /** Answers every open question with `value` (on stop). */
  answerAll(value: T): void {
    for (const r of this.#waiting.values()) r(value)
    this.#waiting.clear()
  }
}
