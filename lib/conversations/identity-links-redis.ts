import type { Cluster, Redis } from 'ioredis'
import { type IdentityLink, part, unpart } from './identity-links-local.js'

/** How long a link lives without a delivery refreshing it: the link must outlive any cached conversation. */
export const ALIAS_TTL_MS = 90 * 24 * 3_600_000

/** How long a late mapping stays marked unconverged if the process converging it dies before it settles. */
export const CONVERGE_TTL_MS = 300_000

/**
 * How a link treats ids Redis does not know (no `id:` key, no `members:` key): 'link' links them as new;
 * 'ask' writes nothing and answers them (to be looked up in Postgres); 'mark' first records each as known
 * (`id:<id>` -> itself), so the next delivery of an id Postgres had no link for asks Postgres no more.
 */
export type UnknownIds = 'link' | 'ask' | 'mark'
const MODES: Record<UnknownIds, string> = { link: '0', ask: '1', mark: '2' }

// KEYS[1]: any key with the instance's hash tag. ARGV: key prefix (with that tag), ttl ms, converge ttl ms, mode,
// then the escaped ids. Answers { canonical, '1' while converging else '0', '1' if a link changed else '0', joined... },
// or in mode ask { '?', unknown ids... } when some are unknown ('?' is never an escaped id).
// Every key shares the tag, so on a Cluster all live in one slot (the members keys cannot be declared ahead).
const LINK = `
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])
local mode = ARGV[4]
if mode ~= '0' then
  local unknown = {}
  for i = 5, #ARGV do
    if redis.call('EXISTS', prefix .. 'id:' .. ARGV[i], prefix .. 'members:' .. ARGV[i]) == 0 then unknown[#unknown + 1] = ARGV[i] end
  end
  if mode == '1' and #unknown > 0 then
    table.insert(unknown, 1, '?')
    return unknown
  end
  if mode == '2' then
    for _, id in ipairs(unknown) do redis.call('SET', prefix .. 'id:' .. id, id, 'PX', ttl) end
  end
end
local groups, seen, ids, changed = {}, {}, {}, false
for i = 5, #ARGV do
  local id = ARGV[i]
  ids[#ids + 1] = id
  local canonical = redis.call('GET', prefix .. 'id:' .. id) or id
  if not seen[canonical] then seen[canonical] = true groups[#groups + 1] = canonical end
end
table.sort(groups)
local winner = groups[1]
local members = prefix .. 'members:' .. winner
local answer = { winner }
for i = 2, #groups do
  local loser = groups[i]
  answer[#answer + 1] = loser
  local moved = redis.call('SMEMBERS', prefix .. 'members:' .. loser)
  moved[#moved + 1] = loser
  for _, member in ipairs(moved) do
    redis.call('SET', prefix .. 'id:' .. member, winner, 'PX', ttl)
    redis.call('SADD', members, member)
  end
  redis.call('DEL', prefix .. 'members:' .. loser)
  changed = true
end
for _, id in ipairs(ids) do
  if id ~= winner then
    if redis.call('GET', prefix .. 'id:' .. id) ~= winner then changed = true end
    redis.call('SET', prefix .. 'id:' .. id, winner, 'PX', ttl)
    redis.call('SADD', members, id)
  end
end
if redis.call('EXISTS', members) == 1 then redis.call('PEXPIRE', members, ttl) end
local converging = prefix .. 'converging:' .. winner
if #groups > 1 then redis.call('SET', converging, '1', 'PX', ARGV[3]) end
table.insert(answer, 2, tostring(redis.call('EXISTS', converging)))
table.insert(answer, 3, changed and '1' or '0')
return answer`

/** The key prefix of an instance's alias map: every key of it in one Cluster slot. */
export const aliasPrefix = (keyPrefix: string, instance: string) => `${keyPrefix}{aliases:${part(instance)}}:`

export type RedisLinkAnswer = { unknown: string[] } | { link: IdentityLink, changed: boolean }

/** Links `ids` in Redis as one atomic script; in mode 'ask' the ids Redis does not know (escaped), if any. */
export async function linkInRedis (redis: Redis | Cluster, keyPrefix: string, instance: string, ids: readonly string[],
  unknownIds: UnknownIds): Promise<RedisLinkAnswer> {
  const prefix = aliasPrefix(keyPrefix, instance)
  // KEYS[1] only routes the script to the instance's slot on a Cluster (every key the script touches shares its tag).
  const answer = await redis.eval(LINK, 1, `${prefix}route`, prefix, String(ALIAS_TTL_MS), String(CONVERGE_TTL_MS),
    MODES[unknownIds], ...ids.map(part)) as string[]
  if (answer[0] === '?') return { unknown: answer.slice(1) }
  return { link: { canonical: unpart(answer[0]!), converging: answer[1] === '1', joined: answer.slice(3).map(unpart) }, changed: answer[2] === '1' }
}
