import type { MultipartFile } from '@fastify/multipart'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Attachment, DeliveryContact, DeliveryResult } from 'fastify-chatwoot'
import { FieldInvalidError, FieldTooLargeError } from '../errors.js'
import { contactSchema, deliveryAnswer, instanceParams, mediaFieldsSchema, messageSchema, queuedAnswer, queueQuery } from './schemas.js'

interface MediaFields { identifier: string, name?: string, phone_number?: string, email?: string, content?: string, source_id?: string }

interface MessageBody {
  contact: DeliveryContact
  message: { content: string, message_type?: 'incoming' | 'outgoing', private?: boolean, source_id?: string, content_attributes?: Record<string, unknown> }
}

const MAX_FILES = 15
/** Bytes of one text field: Chatwoot's 150,000-character content limit, in UTF-8 at worst. */
export const FIELD_SIZE = 600_000

function answer (result: DeliveryResult) {
  return {
    messageId: result.message.id,
    conversationId: result.conversationId,
    contactId: result.contactId,
    sourceId: result.message.source_id,
    cache: result.cache,
    recovered: result.recovered,
    deduplicated: result.deduplicated
  }
}

type Input = Parameters<NonNullable<FastifyRequest['chatwoot']>['deliver']>[0]

/**
 * `?queue=1`: stored in the outbox and answered 202 with its entry once the row is committed; the
 * workers deliver it (retried, paced, in order per contact). Without it: delivered now, answered 200.
 */
async function send (request: FastifyRequest<{ Querystring: { queue?: string } }>, reply: FastifyReply, input: Input) {
  if (request.query.queue === '1') {
    const { id, sourceId, state, existing } = await request.chatwoot!.enqueue(input)
    return reply.code(202).send({ id, sourceId, state, existing })
  }
  return answer(await request.chatwoot!.deliver(input))
}

export async function messageRoutes (app: FastifyInstance, { outbox = false }: { outbox?: boolean }) {
  const querystring = queueQuery(outbox)
  app.post<{ Params: { instance: string }, Body: MessageBody, Querystring: { queue?: string } }>('/instances/:instance/messages', {
    // config.chatwoot: the plugin resolves :instance (404 when unknown) and puts its deliver on the request.
    config: { chatwoot: true },
    schema: {
      params: instanceParams,
      querystring,
      body: { type: 'object', required: ['contact', 'message'], additionalProperties: false, properties: { contact: contactSchema, message: messageSchema } },
      response: { 200: deliveryAnswer, 202: queuedAnswer }
    }
  }, async (request, reply) => send(request, reply, request.body))

  // Media as multipart/form-data: fields identifier, name?, phone_number?, content?, source_id?, and up to 15 files
  // "attachments". Files are read into memory: a retry must send them again, and a request stream is read once.
  app.post<{ Params: { instance: string }, Querystring: { queue?: string } }>('/instances/:instance/media', {
    config: { chatwoot: true },
    schema: { params: instanceParams, querystring, response: { 200: deliveryAnswer, 202: queuedAnswer } }
  }, async (request, reply) => {
    const { fields, attachments } = await readMedia(request)
    const validate = request.compileValidationSchema(mediaFieldsSchema)
    if (!validate(fields)) {
      // Shaped as Fastify's own validation failure, so it answers like the JSON route's.
      throw Object.assign(new Error('invalid media fields'), { validation: validate.errors, validationContext: 'body', statusCode: 400 })
    }
    const { identifier, name, phone_number: phoneNumber, email, content, source_id: sourceId } = fields as unknown as MediaFields
    if (attachments.length === 0 && content === undefined) throw field('body.attachments', 'or content is required')
    const contact: DeliveryContact = {
      identifier,
      ...(name === undefined ? {} : { name }),
      ...(phoneNumber === undefined ? {} : { phone_number: phoneNumber }),
      ...(email === undefined ? {} : { email })
    }
    // Queued media is stored with the entry (base64), up to the outbox's maxPayloadBytes (else 413).
    return send(request, reply, {
      contact,
      message: { ...(content === undefined ? {} : { content }), ...(sourceId === undefined ? {} : { source_id: sourceId }), attachments }
    })
  })
}

async function readMedia (request: FastifyRequest) {
  if (!request.isMultipart()) throw field('body', 'must be multipart/form-data')
  const fields: Record<string, string> = {}
  const attachments: Attachment[] = []
  for await (const part of request.parts({ limits: { files: MAX_FILES } })) {
    if (part.type === 'file') {
      if (part.fieldname !== 'attachments') throw field(`body.${part.fieldname}`, 'is not a file field (use "attachments")')
      attachments.push(await attachment(part))
    } else {
      // Cut short silently by the parser otherwise: a message must arrive whole or not at all.
      if (part.valueTruncated) throw Object.assign(new FieldTooLargeError(`body.${part.fieldname}`, FIELD_SIZE), { field: `body.${part.fieldname}` })
      fields[part.fieldname] = String(part.value)
    }
  }
  return { fields, attachments }
}

async function attachment (part: MultipartFile): Promise<Attachment> {
  // toBuffer() throws FST_REQ_FILE_TOO_LARGE (413) past the plugin's fileSize limit.
  const data = await part.toBuffer()
  return { filename: part.filename || 'file', contentType: part.mimetype || 'application/octet-stream', data }
}

function field (path: string, problem: string) {
  return Object.assign(new FieldInvalidError(path, problem), { field: path })
}
