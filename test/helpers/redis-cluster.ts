// A three-master Redis Cluster on loopback for the tests, started once per machine: a later call (or
// another test process) reuses it while it answers. CI starts from a fresh clone with no cluster.
import { execFile } from 'node:child_process'
import { mkdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Cluster } from 'ioredis'

const run = promisify(execFile)

export const CLUSTER_PORTS = [7101, 7102, 7103] as const
const HOST = '127.0.0.1'
const DIR = join(tmpdir(), 'fastify-chatwoot-redis-cluster')
// Test processes start side by side: one of them sets the cluster up, the others wait for it.
const LOCK = join(tmpdir(), 'fastify-chatwoot-redis-cluster.lock')
const STALE_LOCK_MS = 60_000
const READY_WITHIN_MS = 30_000

async function cli (port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: 10_000 })
  return stdout
}

const answers = (port: number) => cli(port, 'ping').then((out) => out.trim() === 'PONG', () => false)
const clusterOk = (port: number) => cli(port, 'cluster', 'info').then((out) => /cluster_state:ok/.test(out), () => false)

async function allOk (): Promise<boolean> {
  return (await Promise.all(CLUSTER_PORTS.map(clusterOk))).every(Boolean)
}

async function withLock<T> (work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + READY_WITHIN_MS
  for (;;) {
    try {
      await mkdir(LOCK)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      // A process that died holding the lock must not block every later run.
      const age = await stat(LOCK).then((info) => Date.now() - info.mtimeMs, () => 0)
      if (age > STALE_LOCK_MS) await rm(LOCK, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error(`the Redis Cluster set-up lock ${LOCK} is held for too long`)
      await sleep(100)
    }
  }
  try {
    return await work()
  } finally {
    await rm(LOCK, { recursive: true, force: true })
  }
}

async function startNode (port: number): Promise<void> {
  const dir = join(DIR, String(port))
  // A node started afresh forgets any cluster it was in: its peers are reset below too.
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  await run('redis-server', [
    '--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
    '--save', '', '--appendonly', 'no', '--bind', HOST, '--daemonize', 'yes', '--dir', dir,
    '--logfile', join(dir, 'redis.log')
  ])
  const deadline = Date.now() + 5000
  while (!await answers(port)) {
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 5 s (log: ${join(dir, 'redis.log')})`)
    await sleep(50)
  }
}

/** Starts (or reuses) the cluster and waits until every node says cluster_state:ok. */
export async function ensureRedisCluster (): Promise<void> {
  if (await allOk()) return
  await withLock(async () => {
    if (await allOk()) return
    for (const port of CLUSTER_PORTS) if (!await answers(port)) await startNode(port)
    // Half a cluster (a node restarted, a create cut short): start it over. These ports are the tests' own.
    for (const port of CLUSTER_PORTS) {
      await cli(port, 'flushall')
      await cli(port, 'cluster', 'reset', 'hard')
    }
    await run('redis-cli', ['--cluster', 'create', ...CLUSTER_PORTS.map((port) => `${HOST}:${port}`),
      '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 })
    const deadline = Date.now() + READY_WITHIN_MS
    while (!await allOk()) {
      if (Date.now() > deadline) throw new Error(`the Redis Cluster on ports ${CLUSTER_PORTS.join(', ')} is not ok within ${READY_WITHIN_MS} ms`)
      await sleep(100)
    }
  })
}

/** A connected ioredis Cluster client on the test cluster (started if need be); the caller closes it. */
export async function connectRedisCluster (): Promise<Cluster> {
  await ensureRedisCluster()
  const cluster = new Cluster(CLUSTER_PORTS.map((port) => ({ host: HOST, port })), { lazyConnect: true })
  await cluster.connect()
  return cluster
}

/** Deletes every key starting with `prefix` on every master (KEYS and SCAN see one node each). */
export async function deleteClusterKeys (cluster: Cluster, prefix: string): Promise<void> {
  for (const node of cluster.nodes('master')) {
    const keys = await node.keys(`${prefix}*`)
    // One DEL per key: keys of different slots cannot go in one command.
    await Promise.all(keys.map((key) => cluster.del(key)))
  }
}
