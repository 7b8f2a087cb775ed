// How many attempts of one process run their handler (deliver(): Chatwoot's calls) at once. The worker
// runs more loops than that, so a loop's statements (the settle that keeps its lane and starts the next
// entry, a claim) overlap another loop's post instead of leaving a post slot idle while they run.
//
// Permits go in the order they were reserved, which a loop does before the statement that finds its next
// entry: a loop still claiming (perhaps the lane of an instance served longest ago) is not overtaken by
// another loop whose settle kept its lane and came back sooner. So round-robin across instances holds
// post by post, as it did with one loop per post.

/** One loop's place in the line for a permit: run() once, or cancel() when it has nothing to post. */
export interface Ticket {
  run<T> (work: () => Promise<T>): Promise<T>
  cancel (): void
}

interface Place {
  ready?: () => void
}

/** A counting semaphore granted in reservation order. */
export class Permits {
  #free: number
  readonly #line: Place[] = []

  constructor (count: number) {
    this.#free = count
  }

  reserve (): Ticket {
    const place: Place = {}
    this.#line.push(place)
    let done = false
    const leave = () => {
      const at = this.#line.indexOf(place)
      if (at !== -1) this.#line.splice(at, 1)
      this.#grant()
    }
    return {
      run: async <T>(work: () => Promise<T>): Promise<T> => {
        if (done) throw new Error('a ticket runs once')
        done = true
        await new Promise<void>((resolve) => {
          place.ready = resolve
          this.#grant()
        })
        try {
          return await work()
        } finally {
          this.#free++
          this.#grant()
        }
      },
      cancel: () => {
        if (done) return
        done = true
        leave()
      }
    }
  }

  /** The head of the line goes once it is ready and a permit is free; a head still on its way holds the line. */
  #grant (): void {
    while (this.#free > 0 && this.#line[0]?.ready !== undefined) {
      const head = this.#line.shift()!
      this.#free--
      head.ready!()
    }
  }
}
