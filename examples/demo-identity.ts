// The demo's identity step: one person writes from two ids (WhatsApp's opaque @lid and the phone id),
// the gateway learning that they are one person only from the third message on (docs/identity.md).
import type { ChatwootSimulator, CreatedAccount } from 'fastify-chatwoot/testing'
import type { Outcome, Post } from './demo-outbox.js'

const LID = '209876543210987@lid'
const PHONE_ID = '5511999990006@s.whatsapp.net'

/** `person` is fastify.chatwoot.conversations.person for the instance: the key the person's deliveries are ordered by. */
export async function samePersonTwoIds (chatwoot: ChatwootSimulator, account: CreatedAccount, post: Post,
  person: (contact: { identifier: string }) => Promise<string>): Promise<Outcome> {
  const sent: Array<[{ identifier: string, name: string, aliases?: string[] }, string]> = [
    [{ identifier: LID, name: 'Frank' }, 'Hi, Frank here'],
    [{ identifier: PHONE_ID, name: 'Frank' }, 'Frank again, from my number'],
    // The gateway's lid/phone table now knows the two ids (a late mapping): it says so with aliases.
    [{ identifier: LID, name: 'Frank', aliases: [PHONE_ID] }, 'Did you get both?'],
    [{ identifier: PHONE_ID, name: 'Frank' }, 'Hello?'],
    [{ identifier: LID, name: 'Frank' }, 'Thanks!']
  ]
  const answers: Array<Awaited<ReturnType<Post>>> = []
  for (const [contact, content] of sent) answers.push(await post('/instances/acme/messages', { contact, message: { content } }))
  const [lidFirst, phoneFirst, ...afterMapping] = answers.map((answer) => answer.json.conversationId as number)
  const survivor = afterMapping[0]!
  console.log(`   before the mapping: #${lidFirst} (lid) and #${phoneFirst} (phone id); from the mapping on: ${afterMapping.map((id) => `#${id}`).join(', ')}`)

  const inSurvivor = (await chatwoot.query(
    `SELECT m.content FROM messages m JOIN conversations cv ON cv.id = m.conversation_id
      WHERE cv.account_id = $1 AND cv.display_id = $2 ORDER BY m.id`, [account.accountId, survivor])).map((row) => row.content as string)
  const copies = (await chatwoot.query('SELECT count(*)::int AS n FROM messages WHERE account_id = $1 AND content = ANY($2)',
    [account.accountId, sent.map(([, content]) => content)]))[0]?.n as number
  const recorded = (await chatwoot.query(
    'SELECT c.additional_attributes -> \'aliases\' AS aliases FROM contacts c JOIN conversations cv ON cv.contact_id = c.id WHERE cv.account_id = $1 AND cv.display_id = $2',
    [account.accountId, survivor]))[0]?.aliases as string[] | undefined
  const keys = new Set([await person({ identifier: LID }), await person({ identifier: PHONE_ID })])
  console.log(`   conversation #${survivor} took ${JSON.stringify(inSurvivor.slice(-3))}; its contact records the other id: ${JSON.stringify(recorded)}`)

  const lastThree = sent.slice(2).map(([, content]) => content)
  return {
    step: 'one person, two ids',
    expected: 'from the mapping on, 1 conversation, in order, each once',
    observed: `${new Set(afterMapping).size} conversation(s) after the mapping, ${copies} of ${sent.length} stored, ` +
      `${JSON.stringify(inSurvivor.slice(-3)) === JSON.stringify(lastThree) ? 'in order' : 'OUT OF ORDER'}, ${keys.size} person key(s)`,
    ok: answers.every((answer) => answer.status === 200) && lidFirst !== phoneFirst && new Set(afterMapping).size === 1 &&
      [lidFirst, phoneFirst].includes(survivor) && copies === sent.length &&
      JSON.stringify(inSurvivor.slice(-3)) === JSON.stringify(lastThree) && keys.size === 1 &&
      Array.isArray(recorded) && (recorded.includes(LID) || recorded.includes(PHONE_ID))
  }
}
