import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FaultInjector } from './faults';
import { close, listen, readBody, sendJson } from './http';

/** An event as PutEvents received it. */
export interface ReceivedEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: unknown;
  readonly eventBusName: string;
}

/** EventBridge: PutEvents takes 1 to 10 entries. */
const MAX_ENTRIES = 10;

/**
 * A local EventBridge endpoint (JSON 1.1) that accepts PutEvents and keeps the events, so the
 * demo and the tests can see exactly which events a scan published.
 */
export class LocalEventBridge {
  readonly events: ReceivedEvent[] = [];
  private server: Server | undefined;

  async start(port = 0): Promise<string> {
    const { server, url } = await listen((req, res) => this.handle(req, res), port);
    this.server = server;
    return url;
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  constructor(private readonly faults?: FaultInjector) {}

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    await this.faults?.delay();
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    const target = String(request.headers['x-amz-target'] ?? '');
    const input = JSON.parse((await readBody(request)).toString('utf8') || '{}') as { Entries?: unknown };
    const entries = input.Entries;
    if (target !== 'AWSEvents.PutEvents') {
      return sendJson(
        response,
        400,
        {
          __type: 'UnknownOperationException',
          message: `${target} is not supported by the local EventBridge.`,
        },
        headers,
      );
    }
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
      return sendJson(
        response,
        400,
        { __type: 'ValidationException', message: `Entries must hold 1 to ${MAX_ENTRIES} events.` },
        headers,
      );
    }
    const results = entries.map((entry: Record<string, unknown>) => {
      let detail: unknown;
      try {
        detail = JSON.parse(String(entry.Detail));
      } catch {
        return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      }
      this.events.push({
        source: String(entry.Source),
        detailType: String(entry.DetailType),
        detail,
        eventBusName: String(entry.EventBusName ?? 'default'),
      });
      return { EventId: randomUUID() };
    });
    const failed = results.filter((r) => 'ErrorCode' in r).length;
    sendJson(response, 200, { FailedEntryCount: failed, Entries: results }, headers);
  }
}
