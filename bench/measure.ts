import { performance } from 'node:perf_hooks'

export interface Contender {
  name: string
  /** One operation; `measure` runs `concurrency` of them at a time. */
  run: () => Promise<unknown>
  /** For a contender too slow for the common count; throughput stays comparable. */
  operations?: number
  /** Operations before the rounds, unmeasured. Default: the smaller of its operations and 200. */
  warmUp?: number
  /** For a contender that must hold fewer connections than the common concurrency would open. */
  concurrency?: number
}

export interface Figure {
  name: string
  opsPerSec: number
  /** Throughput over the first contender's (the baseline): the median of per-round ratios. */
  ratio: number
  /** The middle half of the per-round ratios: how much of a difference is noise. */
  quartiles: [number, number]
}

/** A bound a figure must stay within: `value` at most `limit`. */
export interface Goal {
  name: string
  value: number
  limit: number
  unit: string
  met: boolean
}

export function atMost (name: string, value: number, limit: number, unit: string): Goal {
  return { name, value, limit, unit, met: value <= limit }
}

/** What a suite hands back: its ratios, and for some, goals and the counts behind them. */
export interface SuiteResult {
  figures: Figure[]
  goals?: Goal[]
  facts?: Record<string, number | string>
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
  for (const contender of contenders) {
    const warmUp = contender.warmUp ?? Math.min(count(contender), 200)
    if (warmUp > 0) await timed(contender.run, warmUp, contender.concurrency ?? concurrency)
  }
  const samples = contenders.map(() => [] as number[])
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (round + k) % contenders.length
      const contender = contenders[i] as Contender
      samples[i]?.push(await timed(contender.run, count(contender), contender.concurrency ?? concurrency))
    }
  }
  const baseline = samples[0] ?? []
  return contenders.map((contender, i) => {
    const own = samples[i] ?? []
    return figureOf(contender.name, own, own.map((value, round) => value / (baseline[round] ?? value)))
  })
}

/** A figure from per-round throughputs (ops/s) and the per-round ratios that go with them. */
export function figureOf (name: string, throughputs: number[], ratios: number[]): Figure {
  return {
    name,
    opsPerSec: Math.round(quantile(throughputs, 0.5)),
    ratio: round3(quantile(ratios, 0.5)),
    quartiles: [round3(quantile(ratios, 0.25)), round3(quantile(ratios, 0.75))]
  }
}

function quantile (values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) * q)] ?? 0
}

function round3 (value: number): number {
  return Number(value.toFixed(3))
}
