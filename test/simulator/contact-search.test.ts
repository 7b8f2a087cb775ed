import { test } from 'tap'
import { simulatedAccount } from '../helpers/simulator.js'

// Issue 14, item 2: GET /contacts/search as v4.9.1 answers it (CONTRACT.md).

test('search finds only contacts with an email, phone or identifier, also by company_name, and leaves % unescaped', async (t) => {
  const { sim, call } = await simulatedAccount(t)
  const create = async (body: Record<string, unknown>) => (await call('POST', '/contacts', { body })).body.payload.contact.id as number
  const nameOnly = await create({ name: 'Acme Visitor', additional_attributes: { company_name: 'Acme Corp' } })
  const withEmail = await create({ name: 'Eve', email: 'eve@x.test', additional_attributes: { company_name: 'ACME Industries' } })
  const withPhone = await create({ name: 'Acme Phone', phone_number: '+15550001111' })
  const withIdentifier = await create({ name: '50% Acme', identifier: 'id-50' })
  const blankEmail = await create({ name: 'Acme Blank' })
  await sim.query("UPDATE contacts SET email = '', identifier = '' WHERE id = $1", [blankEmail])
  const search = async (q: string) => {
    const answer = await call('GET', `/contacts/search?q=${encodeURIComponent(q)}`)
    t.equal(answer.status, 200)
    t.equal(answer.body.meta.count, answer.body.payload.length)
    return answer.body.payload.map((contact: { id: number }) => contact.id).sort((a: number, b: number) => a - b)
  }
  t.same(await search('acme'), [withEmail, withPhone, withIdentifier], 'name or company_name; never a contact without email, phone or identifier')
  t.notOk((await search('acme')).includes(nameOnly), 'a name-only contact is not found even by its company')
  t.same(await search('industries'), [withEmail], 'company_name, case-insensitively')
  t.same(await search('50%'), [withPhone, withIdentifier], "'50%' is '50' then anything: the phone +15550001111 matches too")
  t.same(await search('%'), [withEmail, withPhone, withIdentifier], '% is a wildcard: every searchable contact')
  t.same(await search('_ve'), [withEmail], '_ is one character')
})

test('search has no order unless sort is given', async (t) => {
  const { sim, call } = await simulatedAccount(t)
  const ids: number[] = []
  for (const name of ['Carl', 'Abe', 'Bea']) {
    ids.push((await call('POST', '/contacts', { body: { name: `${name} Sorted`, identifier: name } })).body.payload.contact.id)
  }
  // Activity that would reorder the list if the search sorted by it.
  await sim.query("UPDATE contacts SET last_activity_at = utc_now() - id * interval '1 minute'")
  const names = async (query: string) => (await call('GET', `/contacts/search?q=sorted${query}`)).body.payload
    .map((contact: { name: string }) => contact.name)
  t.same((await names('')).sort(), ['Abe Sorted', 'Bea Sorted', 'Carl Sorted'], 'all found, in whatever order Postgres gives')
  t.same(await names('&sort=name'), ['Abe Sorted', 'Bea Sorted', 'Carl Sorted'])
  t.same(await names('&sort=-name'), ['Carl Sorted', 'Bea Sorted', 'Abe Sorted'])
  t.same(await names('&sort=-last_activity_at'), ['Carl Sorted', 'Abe Sorted', 'Bea Sorted'])
  t.same(await names('&sort=bogus').then((list: string[]) => list.sort()), ['Abe Sorted', 'Bea Sorted', 'Carl Sorted'], 'an unknown sort is ignored')
})
