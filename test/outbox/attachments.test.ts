import { createHash, randomBytes } from 'node:crypto'
import { test } from 'tap'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'
import { instanceOf, outboxApp, until } from './fixture.js'

usesServers('postgres', 'redis')

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

test('attachments survive in the table: bytes stored with the entry, or a ref the host re-opens at delivery', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const inline = randomBytes(3000)
  const kept = new Map([['s3://bucket/voice.ogg', randomBytes(5000)]])
  const opened: string[] = []
  const { outbox } = await outboxApp(t, {
    instances: { acme: instanceOf(sim, account) },
    outbox: {
      openAttachment: async (ref, instance) => {
        opened.push(`${instance} ${ref}`)
        return kept.get(ref)!
      }
    }
  })
  await outbox.enqueue('acme', {
    contact: { identifier: 'files' },
    message: {
      content: 'two files',
      source_id: 'f1',
      attachments: [
        { filename: 'photo.jpg', contentType: 'image/jpeg', data: inline },
        { filename: 'voice.ogg', contentType: 'audio/ogg', ref: 's3://bucket/voice.ogg' }
      ]
    }
  })
  await until(async () => (await outbox.outbox.stats()).delivered === 1, 30_000, 'delivered')
  const rows = await sim.query<{ meta: { filename: string, byte_size: number, sha256: string } }>(
    'SELECT a.meta FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.source_id = $1 ORDER BY a.id', ['f1'])
  t.same(rows.map((row) => [row.meta.filename, row.meta.byte_size, row.meta.sha256]), [
    ['photo.jpg', 3000, sha256(inline)],
    ['voice.ogg', 5000, sha256(kept.get('s3://bucket/voice.ogg')!)]
  ], 'both files reached Chatwoot byte for byte')
  t.same(opened, ['acme s3://bucket/voice.ogg'], 'the ref was opened once, with its instance')
})
