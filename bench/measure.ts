import { performance } from 'node:perf_hooks'

export interface Contender {
  name: string
  /** One operation; `measure` runs `concurrency` of them at a time. */
  run: () => Promise<unknown>
  /** For a contender too slow for the common count; throughput stays comparable. */
  operations?: number
}

export interface Figure {
  name: string
  opsPerSec: number
  /** Throughput over the first contender's (the baseline). */
  ratio: number
}

export interface MeasureOptions {
  operations: number
  concurrency: number
  rounds: number
}

async function timed (run: () => Promise<unknown>, operations: number, concurrency: number): Promise<number> {
  let started = 0
  const worker = async () => {
    while (started < operations) {
      started++
      await run()
    }
  }
  const begin = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return operations / ((performance.now() - begin) / 1000)
}

/**
 * Side by side: every round runs each contender once, in turn, so drift of the machine
 * (other load, the server warming up) touches all of them alike; the median round counts.
 */
export async function measure (contenders: Contender[], options: MeasureOptions): Promise<Figure[]> {
  const { operations, concurrency, rounds } = options
  for (const contender of contenders) await timed(contender.run, Math.min(contender.operations ?? operations, 200), concurrency)
  const samples = contenders.map(() => [] as number[])
  for (let round = 0; round < rounds; round++) {
    for (const [i, contender] of contenders.entries()) {
      samples[i]?.push(await timed(contender.run, contender.operations ?? operations, concurrency))
    }
  }
  const medians = samples.map((values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0)
  const baseline = medians[0] ?? 1
  return contenders.map((contender, i) => ({
    name: contender.name,
    opsPerSec: Math.round(medians[i] ?? 0),
    ratio: Number(((medians[i] ?? 0) / baseline).toFixed(3))
  }))
}
