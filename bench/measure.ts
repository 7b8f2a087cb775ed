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
  /** Throughput over the first contender's (the baseline): the median of per-round ratios. */
  ratio: number
  /** The middle half of the per-round ratios: how much of a difference is noise. */
  quartiles: [number, number]
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
 * Side by side: every round runs each contender once, starting each round with the next one
 * in turn, so drift of the machine (other load, the server warming up) and the order touch
 * all of them alike. A ratio is the median of per-round ratios: each pairs samples taken
 * moments apart, which cancels more noise than dividing two medians.
 */
export async function measure (contenders: Contender[], options: MeasureOptions): Promise<Figure[]> {
  const { operations, concurrency, rounds } = options
  const count = (contender: Contender) => contender.operations ?? operations
  for (const contender of contenders) await timed(contender.run, Math.min(count(contender), 200), concurrency)
  const samples = contenders.map(() => [] as number[])
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (round + k) % contenders.length
      const contender = contenders[i] as Contender
      samples[i]?.push(await timed(contender.run, count(contender), concurrency))
    }
  }
  const baseline = samples[0] ?? []
  return contenders.map((contender, i) => {
    const own = samples[i] ?? []
    const ratios = own.map((value, round) => value / (baseline[round] ?? value))
    return {
      name: contender.name,
      opsPerSec: Math.round(quantile(own, 0.5)),
      ratio: round3(quantile(ratios, 0.5)),
      quartiles: [round3(quantile(ratios, 0.25)), round3(quantile(ratios, 0.75))]
    }
  })
}

function quantile (values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) * q)] ?? 0
}

function round3 (value: number): number {
  return Number(value.toFixed(3))
}
