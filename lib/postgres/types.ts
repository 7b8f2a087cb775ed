import type pg from 'pg'

/** What an instance's database resolves to: a connection string, a pool config, or a pool of yours. */
export type DatabaseSource = string | pg.PoolConfig | pg.Pool
export type ResolveDatabase = (name: string) =>
  DatabaseSource | undefined | null | Promise<DatabaseSource | undefined | null>

export interface PoolSetStats {
  /** Live pools this plugin created (pools being drained are not counted). */
  pools: number
  /** Connections of every pool this plugin created, draining ones included. */
  totalConnections: number
  idleConnections: number
  /** Queries waiting for a connection. */
  waiting: number
  /** Pools created since registration. */
  created: number
  /** Pools drained and ended: settings changed, least recently used, idle, or evict(). */
  evicted: number
}

/** One open pool, for health pages: never a password (the target is masked). */
export interface PoolState {
  /** The server and database, password masked; '@fastify/postgres' or 'a pool passed in' for pools not made here. */
  target: string
  /** The instances bound to it now. */
  instances: string[]
  totalConnections: number
  idleConnections: number
  waiting: number
  /** Milliseconds since an instance last took it. */
  idleForMs: number
}

export interface PoolSetLog {
  warn (details: object, message: string): void
  debug (details: object, message: string): void
}

export interface PoolSetOptions {
  resolve: ResolveDatabase
  /** A shared pool for instances without a database of their own (@fastify/postgres's). */
  fallback: () => pg.Pool | undefined
  maxPools: number
  idleTimeoutMs: number
  revalidateMs: number
  poolDefaults: pg.PoolConfig
  log: PoolSetLog
}
