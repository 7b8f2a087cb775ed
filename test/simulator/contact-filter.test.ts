import { type Test, test } from 'tap'
import { simulatedAccount } from '../helpers/simulator.js'

// Issue 14, item 1: POST /contacts/filter as Contacts::FilterService of v4.9.1 answers it (CONTRACT.md).

const SERVER_ERROR = { status: 500, error: 'Internal Server Error' }

async function filterFixture (t: Test) {
  const { call } = await simulatedAccount(t)
  const create = async (body: Record<string, unknown>) => {
    const answer = await call('POST', '/contacts', { body })
    if (answer.status !== 200) throw new Error(`contact create answered ${answer.status}: ${answer.text}`)
    return answer.body.payload.contact.id as number
  }
  const ids = {
    ann: await create({ name: 'Ann Lee', email: 'ann@filter.test', phone_number: '+14155550123', identifier: 'ID-Ann' }),
    percent: await create({ name: '100% Lee', identifier: 'ID-Percent' }),
    bare: await create({ name: 'Bare' })
  }
  const filter = (payload: unknown) => call('POST', '/contacts/filter', { body: payload === undefined ? {} : { payload } })
  const listIds = async (payload: unknown) => {
    const answer = await filter(payload)
    t.equal(answer.status, 200, JSON.stringify(payload))
    return answer.body.payload.map((contact: { id: number }) => contact.id).sort((a: number, b: number) => a - b)
  }
  return { ids, filter, idsOf: listIds }
}

const condition = (key: string, operator: string, values: unknown, join?: unknown) =>
  ({ attribute_key: key, filter_operator: operator, values, ...(join === undefined ? {} : { query_operator: join }) })

test('equal_to uses values[0] case-insensitively; a phone value is "+" and its digits; starts_with is equality for phones', async (t) => {
  const { ids, idsOf } = await filterFixture(t)
  t.same(await idsOf([condition('name', 'equal_to', ['ann lee', 'Bare'])]), [ids.ann], 'only values[0] counts')
  t.same(await idsOf([condition('email', 'equal_to', ['ANN@Filter.test'])]), [ids.ann])
  t.same(await idsOf([condition('identifier', 'equal_to', ['id-ann'])]), [ids.ann], 'identifier too')
  t.same(await idsOf([condition('phone_number', 'equal_to', ['14155550123'])]), [ids.ann], 'no "+" needed')
  t.same(await idsOf([condition('phone_number', 'equal_to', ['+1415+5550123'])]), [ids.ann], 'every "+" is dropped first')
  t.same(await idsOf([condition('phone_number', 'starts_with', ['+1415'])]), [], 'starts_with is no prefix match')
  t.same(await idsOf([condition('phone_number', 'starts_with', ['14155550123'])]), [ids.ann], 'but an exact one')
  t.same(await idsOf([condition('name', 'equal_to', 'Bare')]), [], 'a string\'s values[0] is its first character')
})

test('negative operators never match NULL columns; % and _ stay wildcards', async (t) => {
  const { ids, idsOf } = await filterFixture(t)
  t.same(await idsOf([condition('email', 'not_equal_to', ['nobody@x.test'])]), [ids.ann], 'contacts without email are not matched')
  t.same(await idsOf([condition('email', 'does_not_contain', ['zzz'])]), [ids.ann])
  t.same(await idsOf([condition('name', 'contains', ['%'])]), [ids.ann, ids.percent, ids.bare], '% matches anything')
  t.same(await idsOf([condition('name', 'contains', ['_ee'])]), [ids.ann, ids.percent], '_ matches one character')
})

test('an operator the key does not take, or blank values, is a 422 naming the key', async (t) => {
  const { filter } = await filterFixture(t)
  const cases: Array<[unknown, string]> = [
    [[condition('name', 'starts_with', ['A'])], 'Invalid operator. The allowed operators for name are [equal_to,not_equal_to,contains,does_not_contain].'],
    [[condition('email', 'is_present', ['x'])], 'Invalid operator. The allowed operators for email are [equal_to,not_equal_to,contains,does_not_contain].'],
    [[condition('identifier', 'contains', ['A'])], 'Invalid operator. The allowed operators for identifier are [equal_to,not_equal_to].'],
    [[condition('phone_number', 'is_greater_than', ['1'])],
      'Invalid operator. The allowed operators for phone_number are [equal_to,not_equal_to,contains,does_not_contain,starts_with].'],
    [[condition('name', 'equal_to', [])], 'Invalid value. The values provided for name are invalid'],
    [[condition('email', 'contains', '  ')], 'Invalid value. The values provided for email are invalid'],
    [[condition('identifier', 'equal_to', undefined)], 'Invalid value. The values provided for identifier are invalid'],
    // The checks run before the query_operators are looked at: a 422 wins over a later 500.
    [[condition('name', 'equal_to', ['x'], 'and'), condition('name', 'equal_to', [])], 'Invalid value. The values provided for name are invalid']
  ]
  for (const [payload, error] of cases) {
    const answer = await filter(payload)
    t.equal(answer.status, 422, JSON.stringify(payload))
    t.same(answer.body, { error })
  }
})

test('query_operator placement: after every condition but the last, AND or OR in any case, else 500', async (t) => {
  const { ids, filter, idsOf } = await filterFixture(t)
  t.same(await idsOf([condition('name', 'contains', ['lee'], 'and'), condition('email', 'contains', ['ann'])]), [ids.ann])
  t.same(await idsOf([condition('name', 'equal_to', ['Bare'], 'OR'), condition('identifier', 'equal_to', ['ID-Ann'])]), [ids.ann, ids.bare])
  t.same(await idsOf([condition('name', 'equal_to', ['Bare'], ' or '), condition('name', 'equal_to', ['nobody'], 'AND'),
    condition('name', 'equal_to', ['Ann Lee'])]), [ids.bare], 'AND binds tighter than OR, as in one SQL string')
  t.same(await idsOf([condition('name', 'equal_to', ['Bare'], '')]), [ids.bare], 'a blank one after the last is nothing')
  t.same(await idsOf([]), [ids.ann, ids.percent, ids.bare], 'an empty payload filters nothing')

  const failures: unknown[] = [
    [condition('name', 'equal_to', ['Bare'], 'and')],
    [condition('name', 'equal_to', ['Bare']), condition('name', 'equal_to', ['Ann Lee'])],
    [condition('name', 'equal_to', ['Bare'], 'xor'), condition('name', 'equal_to', ['Ann Lee'])],
    undefined,
    { attribute_key: 'name', filter_operator: 'equal_to', values: ['Bare'] }
  ]
  for (const payload of failures) {
    const answer = await filter(payload)
    t.equal(answer.status, 500, JSON.stringify(payload) ?? 'no payload')
    t.same(answer.body, SERVER_ERROR)
  }
})
