import type { MultipartFile } from '@fastify/multipart'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Attachment, DeliveryContact, DeliveryResult } from 'fastify-chatwoot'
import { FieldInvalidError } from '../errors.js'
import { contactSchema, deliveryAnswer, instanceParams, messageSchema } from './schemas.js'

interface MessageBody {
  contact: DeliveryContact
  message: { content: string, message_type?: 'incoming' | 'outgoing', private?: boolean, source_id?: string, content_attributes?: Record<string, unknown> }
}

const MAX_FILES = 15

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

export async function messageRoutes (app: FastifyInstance) {
  app.post<{ Params: { instance: string }, Body: MessageBody }>('/instances/:instance/messages', {
    // config.chatwoot: the plugin resolves :instance (404 when unknown) and puts its deliver on the request.
    config: { chatwoot: true },
    schema: {
      params: instanceParams,
      body: { type: 'object', required: ['contact', 'message'], additionalProperties: false, properties: { contact: contactSchema, message: messageSchema } },
      response: { 200: deliveryAnswer }
    }
  }, async (request) => answer(await request.chatwoot!.deliver(request.body)))

  // Media as multipart/form-data: fields identifier, name?, phone_number?, content?, source_id?, and up to 15 files
  // "attachments". Files are read into memory: a retry must send them again, and a request stream is read once.
  app.post<{ Params: { instance: string } }>('/instances/:instance/media', {
    config: { chatwoot: true },
    schema: { params: instanceParams, response: { 200: deliveryAnswer } }
  }, async (request) => {
    const { fields, attachments } = await readMedia(request)
    const identifier = fields.get('identifier')
    if (identifier === undefined || identifier === '') throw field('identifier', 'is required')
    if (attachments.length === 0 && !fields.get('content')) throw field('attachments', 'or content is required')
    const contact: DeliveryContact = { identifier }
    for (const name of ['name', 'phone_number', 'email'] as const) {
      const value = fields.get(name)
      if (value !== undefined) contact[name] = value
    }
    const content = fields.get('content')
    const sourceId = fields.get('source_id')
    const result = await request.chatwoot!.deliver({
      contact,
      message: { ...(content ? { content } : {}), ...(sourceId ? { source_id: sourceId } : {}), attachments }
    })
    return answer(result)
  })
}

async function readMedia (request: FastifyRequest) {
  if (!request.isMultipart()) throw field('body', 'must be multipart/form-data')
  const fields = new Map<string, string>()
  const attachments: Attachment[] = []
  for await (const part of request.parts({ limits: { files: MAX_FILES } })) {
    if (part.type === 'file') {
      if (part.fieldname !== 'attachments') throw field(part.fieldname, 'is not a file field (use "attachments")')
      attachments.push(await attachment(part))
    } else {
      fields.set(part.fieldname, String(part.value))
    }
  }
  return { fields, attachments }
}

async function attachment (part: MultipartFile): Promise<Attachment> {
  // toBuffer() throws FST_REQ_FILE_TOO_LARGE (413) past the plugin's fileSize limit.
  const data = await part.toBuffer()
  return { filename: part.filename || 'file', contentType: part.mimetype || 'application/octet-stream', data }
}

function field (name: string, problem: string) {
  return Object.assign(new FieldInvalidError(`body.${name}`, problem), { field: `body.${name}` })
}
