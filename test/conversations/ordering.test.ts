import { test } from 'tap'
import { KeyedQueue } from '../../lib/conversations/ordering.js'

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('work for one key runs in call order, one at a time, whatever each outcome; keys run side by side', async (t) => {
  const queue = new KeyedQueue()
  const done: Record<string, number[]> = { a: [], b: [] }
  let running = { a: 0, b: 0 }
  let mostAtOnce = { a: 0, b: 0 }
  let bothAtOnce = false
  const results = await Promise.allSettled(Array.from({ length: 60 }, (_, index) => {
    const key = index % 2 === 0 ? 'a' : 'b'
    return queue.run(key, async () => {
      running = { ...running, [key]: running[key as 'a' | 'b'] + 1 }
      mostAtOnce = { a: Math.max(mostAtOnce.a, running.a), b: Math.max(mostAtOnce.b, running.b) }
      if (running.a > 0 && running.b > 0) bothAtOnce = true
      // Later calls finish faster: only the queue keeps them in order.
      await pause((60 - index) % 7)
      running = { ...running, [key]: running[key as 'a' | 'b'] - 1 }
      done[key]!.push(index)
      if (index % 5 === 0) throw new Error(`failure ${index}`)
      return index
    })
  }))
  t.same(done.a, Array.from({ length: 30 }, (_, i) => i * 2), 'key a in call order')
  t.same(done.b, Array.from({ length: 30 }, (_, i) => i * 2 + 1), 'key b in call order')
  t.same(mostAtOnce, { a: 1, b: 1 }, 'one at a time per key')
  t.ok(bothAtOnce, 'different keys overlap')
  t.equal(results.filter((result) => result.status === 'rejected').length, 12, 'failures reach their own callers and do not stop the queue')
  await pause(0)
  t.equal(queue.size, 0, 'idle keys are forgotten')
})
